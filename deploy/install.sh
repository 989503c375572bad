#!/usr/bin/env bash
# install.sh — install openclaw-edge as a hardened systemd service.
#
# usage: deploy/install.sh [--prefix DIR] [--no-start] [BINARY]
#   BINARY      default: target/x86_64-unknown-linux-musl/release/openclaw-edge
#               (relative to the repository; build it with scripts/cross-build.sh)
#   --prefix DIR  stage everything under DIR instead of / (same as DESTDIR=DIR): nothing
#               outside DIR is touched and systemctl is never run — for packaging and testing
#   --no-start  install the files but do not run systemctl
#
# Installs:
#   DIR/usr/local/bin/openclaw-edge                  0755 (replaced atomically: safe while running)
#   DIR/etc/systemd/system/openclaw-edge.service     0644
#   DIR/etc/openclaw-edge/openclaw-edge.toml         0640, only if absent (never overwritten)
# Then, only for a real install with systemd running:
#   systemctl daemon-reload && systemctl enable --now openclaw-edge
#   (+ restart when it was already running, so a new binary takes effect)
set -euo pipefail

log() { printf 'install: %s\n' "$*"; }
die() { printf 'install: ERROR: %s\n' "$*" >&2; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
UNIT_SRC="$HERE/openclaw-edge.service"
NAME=openclaw-edge

DEST=${DESTDIR:-}
START=1
BIN=
while [ "$#" -gt 0 ]; do
  case "$1" in
    --prefix) [ "$#" -ge 2 ] || die "--prefix needs a directory"; DEST=$2; shift 2 ;;
    --prefix=*) DEST=${1#--prefix=}; shift ;;
    --no-start) START=0; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$BIN" ] || die "only one binary may be given"; BIN=$1; shift ;;
  esac
done
BIN=${BIN:-$REPO/target/x86_64-unknown-linux-musl/release/$NAME}

[ -f "$BIN" ] || die "binary not found: $BIN (build it: scripts/cross-build.sh x86_64-unknown-linux-musl)"
[ -f "$UNIT_SRC" ] || die "unit file not found: $UNIT_SRC"

if [ -n "$DEST" ]; then
  mkdir -p "$DEST"
  DEST=$(cd "$DEST" && pwd)
  [ "$DEST" != / ] || DEST=
fi
STAGED=0; [ -n "$DEST" ] && STAGED=1
if [ "$STAGED" = 0 ] && [ "$(id -u)" != 0 ]; then
  die "a real install needs root (or use --prefix DIR / DESTDIR=DIR for a staged install)"
fi

# Sanity check of the binary: on a real install it must run on this machine.
if ver=$("$BIN" version 2>/dev/null); then
  log "binary: $BIN ($ver)"
elif [ "$STAGED" = 1 ]; then
  log "binary: $BIN (cannot run on this host: $(file -b "$BIN" 2>/dev/null | cut -d, -f1-2); staged anyway)"
else
  die "$BIN does not run on this machine (wrong architecture?): $(file -b "$BIN" 2>/dev/null || true)"
fi

BIN_DST="$DEST/usr/local/bin/$NAME"
UNIT_DST="$DEST/etc/systemd/system/$NAME.service"
CONF_DIR="$DEST/etc/$NAME"
CONF_DST="$CONF_DIR/$NAME.toml"
OWN=(); [ "$(id -u)" = 0 ] && OWN=(-o root -g root)

# 1. binary: copy next to the target, then rename (works while the old one is running).
install -d -m 0755 "$DEST/usr/local/bin"
install -m 0755 "${OWN[@]}" "$BIN" "$BIN_DST.new.$$"
mv -f "$BIN_DST.new.$$" "$BIN_DST"
log "installed $BIN_DST"

# 2. unit
install -d -m 0755 "$DEST/etc/systemd/system"
install -m 0644 "${OWN[@]}" "$UNIT_SRC" "$UNIT_DST"
log "installed $UNIT_DST"

# 3. config, only if absent (an existing one is the admin's and is left alone)
install -d -m 0755 "${OWN[@]}" "$CONF_DIR"
if [ -e "$CONF_DST" ]; then
  log "kept existing $CONF_DST"
else
  tmpconf="$CONF_DST.new.$$"
  (
    umask 027
    cat >"$tmpconf" <<'EOF'
# openclaw-edge configuration (created by deploy/install.sh; it never overwrites this file).
# The service reads it at start: edit, then `systemctl restart openclaw-edge`.
# Check a change first with: openclaw-edge config check --config /etc/openclaw-edge/openclaw-edge.toml
#
# State (the generated gateway.token, mode 0600) lives in /var/lib/openclaw-edge ($STATE_DIRECTORY);
# read the token with: sudo cat /var/lib/openclaw-edge/gateway.token
# A bind address other than loopback requires a configured token or password.

[gateway]
bind = "127.0.0.1:18789"

# To use your own secret instead of the generated token, uncomment:
# [gateway.auth]
# token = "..."
EOF
  )
  chmod 0640 "$tmpconf"
  [ "$(id -u)" = 0 ] && chown root:root "$tmpconf"
  mv -f "$tmpconf" "$CONF_DST"
  log "created $CONF_DST (mode 0640)"
fi

# 4. systemd
if [ "$STAGED" = 1 ]; then
  log "staged install under $DEST: systemctl not run"
  exit 0
fi
if [ "$START" = 0 ]; then
  log "--no-start: to start it run: systemctl daemon-reload && systemctl enable --now $NAME"
  exit 0
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  was_active=0
  systemctl is-active --quiet "$NAME" && was_active=1
  systemctl daemon-reload
  systemctl enable --now "$NAME"
  [ "$was_active" = 1 ] && systemctl restart "$NAME"
  log "service: $(systemctl is-active "$NAME" || true)  (logs: journalctl -u $NAME -f)"
else
  log "systemd is not running on this machine: the service was not started."
  log "on a systemd host run:  systemctl daemon-reload && systemctl enable --now $NAME"
  log "or run it in the foreground:  $BIN_DST run --config $CONF_DST --state-dir <dir>"
fi
