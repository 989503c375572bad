#!/usr/bin/env bash
# qemu-smoke.sh — run cross-built openclaw-edge binaries under qemu-user and check them for real.
#
# usage: scripts/qemu-smoke.sh [BIN...]
#   default: the aarch64 and armv7 release binaries in the target dir
#            ($CARGO_TARGET_DIR or the project's target/), as built by scripts/cross-build.sh
#
# Per binary:
#   1. `file` must say "statically linked" / "static-pie linked"
#   2. start it (qemu-aarch64-static / qemu-arm-static; natively when the host can run it) with
#      `run --bind 127.0.0.1:0 --state-dir <tmpdir>` in an empty working directory, no config,
#      no token in the environment
#   3. read the port from the first stdout line `listening on ws://127.0.0.1:PORT`
#      (bounded: START_TIMEOUT, default 60 s — qemu start-up is slow)
#   4. read the generated token from <tmpdir>/gateway.token (must be mode 0600)
#   5. scripts/lib/wsclient.py (stdlib-only Python): GET /healthz, WebSocket upgrade,
#      connect.challenge -> connect -> hello-ok (protocol 4) -> health (ok:true)
#   6. SIGTERM the PID this script started; it must exit with status 0 within STOP_TIMEOUT
#      (default 15 s); otherwise it is SIGKILLed and counted as a failure
# Prints PASS/FAIL per binary; exits 1 if any failed, 2 on usage errors.
# Loopback only; every wait is bounded; only the PIDs this script started are ever signalled.
#
# environment (optional): START_TIMEOUT=60 PROBE_TIMEOUT=60 STOP_TIMEOUT=15 KEEP_TMP=1
#   CROSS_NO_INSTALL=1 (do not apt-get install qemu-user-static / file when missing)
set -euo pipefail

START_TIMEOUT=${START_TIMEOUT:-60}
PROBE_TIMEOUT=${PROBE_TIMEOUT:-60}
STOP_TIMEOUT=${STOP_TIMEOUT:-15}
KEEP_TMP=${KEEP_TMP:-0}
CROSS_NO_INSTALL=${CROSS_NO_INSTALL:-0}
BIN_NAME=openclaw-edge

log() { printf 'qemu-smoke: %s\n' "$*"; }
die() { printf 'qemu-smoke: ERROR: %s\n' "$*" >&2; exit 2; }

case "${1:-}" in -h|--help) sed -n '2,24p' "$0"; exit 0 ;; esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WSCLIENT="$ROOT/scripts/lib/wsclient.py"
[ -f "$WSCLIENT" ] || die "missing $WSCLIENT"
command -v python3 >/dev/null 2>&1 || die "python3 is required (stdlib only)"

# ---------------------------------------------------------------- tools
SUDO=
if [ "$(id -u)" != 0 ]; then command -v sudo >/dev/null 2>&1 && SUDO=sudo; fi
missing=()
command -v file >/dev/null 2>&1 || missing+=(file)
command -v qemu-aarch64-static >/dev/null 2>&1 && command -v qemu-arm-static >/dev/null 2>&1 \
  || missing+=(qemu-user-static)
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$CROSS_NO_INSTALL" = 1 ] && die "missing: ${missing[*]} (CROSS_NO_INSTALL=1)"
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get"
  log "apt: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------- binaries
if [ "$#" -gt 0 ]; then
  BINS=("$@")
else
  TARGET_DIR=$( { cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null; } || true)
  [ -n "$TARGET_DIR" ] || TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
  BINS=("$TARGET_DIR/aarch64-unknown-linux-musl/release/$BIN_NAME"
        "$TARGET_DIR/armv7-unknown-linux-musleabihf/release/$BIN_NAME")
fi

# ---------------------------------------------------------------- state for cleanup
CUR_PID=
CUR_TMP=
cleanup() {
  # Only ever the PID started below, and only while it is still our child.
  if [ -n "$CUR_PID" ] && kill -0 "$CUR_PID" 2>/dev/null; then
    kill -KILL "$CUR_PID" 2>/dev/null || true
    wait "$CUR_PID" 2>/dev/null || true
  fi
  if [ -n "$CUR_TMP" ] && [ "$KEEP_TMP" != 1 ]; then rm -rf "$CUR_TMP"; fi
  CUR_PID=; CUR_TMP=
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

host=$(uname -m)

# smoke_one BIN -> 0 pass / 1 fail (messages on stdout)
smoke_one() {
  local bin=$1 info q arch t0 port="" line="" tmp i rc mode
  if [ ! -f "$bin" ]; then log "  $bin: no such file (run scripts/cross-build.sh first)"; return 1; fi
  bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
  info=$(file -b "$bin")
  log "  file: $info"
  case "$info" in
    *"statically linked"*|*"static-pie linked"*) ;;
    *) log "  not a static binary"; return 1 ;;
  esac
  case "$info" in
    *"ARM aarch64"*) arch=aarch64; q=qemu-aarch64-static ;;
    *"ARM, EABI"*) arch=arm; q=qemu-arm-static ;;
    *"x86-64"*) arch=x86_64; q= ;;
    *) log "  unknown architecture"; return 1 ;;
  esac
  case "$arch:$host" in x86_64:x86_64|aarch64:aarch64|arm:armv7l|arm:armv8l) q= ;; esac
  if [ -n "$q" ]; then
    command -v "$q" >/dev/null 2>&1 || { log "  $q not found"; return 1; }
    q=$(command -v "$q")
  fi
  log "  runner: ${q:-native}"

  tmp=$(mktemp -d -t qemu-smoke.XXXXXX)
  CUR_TMP=$tmp
  mkdir -p "$tmp/state" "$tmp/cwd"
  : >"$tmp/stdout"   # exists before the child opens it (no race with the first read below)
  t0=$(date +%s%N)
  # Empty cwd (no ./openclaw-edge.toml), no config or secret from the caller's environment.
  (
    cd "$tmp/cwd"
    exec env -u OPENCLAW_EDGE_CONFIG -u OPENCLAW_EDGE_GATEWAY_TOKEN -u OPENCLAW_GATEWAY_TOKEN \
      -u OPENCLAW_EDGE_GATEWAY_PASSWORD -u OPENCLAW_GATEWAY_PASSWORD -u STATE_DIRECTORY \
      ${q:+"$q"} "$bin" run --bind 127.0.0.1:0 --state-dir "$tmp/state"
  ) >"$tmp/stdout" 2>"$tmp/stderr" </dev/null &
  CUR_PID=$!

  # First stdout line, bounded.
  for ((i = 0; i < START_TIMEOUT * 10; i++)); do
    # `read` succeeds only on a complete (newline-terminated) line.
    if IFS= read -r line <"$tmp/stdout"; then break; fi
    line=""
    kill -0 "$CUR_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ "$line" =~ ^listening\ on\ ws://127\.0\.0\.1:([0-9]+)$ ]]; then
    port=${BASH_REMATCH[1]}
  else
    if kill -0 "$CUR_PID" 2>/dev/null; then
      log "  no 'listening on ws://127.0.0.1:PORT' line within ${START_TIMEOUT}s (got: '${line}')"
    else
      wait "$CUR_PID" && rc=0 || rc=$?
      CUR_PID=
      log "  exited early with status $rc (first line: '${line}')"
    fi
    log "  --- stderr (last lines) ---"; tail -n 10 "$tmp/stderr" | sed 's/^/  | /'
    return 1
  fi
  log "  $line (after $(( ($(date +%s%N) - t0) / 1000000 )) ms)"

  if [ ! -s "$tmp/state/gateway.token" ]; then log "  no token at $tmp/state/gateway.token"; return 1; fi
  mode=$(stat -c %a "$tmp/state/gateway.token")
  [ "$mode" = 600 ] || { log "  token file mode $mode, expected 600"; return 1; }

  if ! timeout "$((PROBE_TIMEOUT + 5))" python3 "$WSCLIENT" --port "$port" \
        --token-file "$tmp/state/gateway.token" --timeout "$PROBE_TIMEOUT" 2>&1 | sed 's/^/  /'; then
    log "  protocol probe failed"
    log "  --- stderr (last lines) ---"; tail -n 10 "$tmp/stderr" | sed 's/^/  | /'
    return 1
  fi
  if [ -n "$q" ] && [ -r "/proc/$CUR_PID/status" ]; then
    # qemu-user RSS includes the emulator itself: for information only, never a measurement.
    log "  (qemu process incl. emulator, not a measurement: $(grep -E '^VmRSS' "/proc/$CUR_PID/status" | tr -s ' \t' ' '))"
  fi

  # Graceful stop: SIGTERM our PID, bounded wait, exit status must be 0.
  kill -TERM "$CUR_PID"
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    kill -0 "$CUR_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$CUR_PID" 2>/dev/null; then
    log "  still running ${STOP_TIMEOUT}s after SIGTERM: SIGKILL"
    kill -KILL "$CUR_PID" 2>/dev/null || true
    wait "$CUR_PID" 2>/dev/null || true
    CUR_PID=
    return 1
  fi
  wait "$CUR_PID" && rc=0 || rc=$?
  CUR_PID=
  log "  exit status after SIGTERM: $rc"
  if [ "$rc" != 0 ]; then
    log "  --- stderr (last lines) ---"; tail -n 10 "$tmp/stderr" | sed 's/^/  | /'
    return 1
  fi
  return 0
}

fail=0
results=()
for b in "${BINS[@]}"; do
  log "=== $b"
  if smoke_one "$b"; then results+=("PASS $b"); else results+=("FAIL $b"); fail=1; fi
  cleanup
done
echo
for r in "${results[@]}"; do log "$r"; done
exit "$fail"
