#!/usr/bin/env bash
# cross-build.sh — build static (musl) release binaries of openclaw-edge with cargo-zigbuild.
#
# usage: scripts/cross-build.sh [TARGET...]
#   default targets: x86_64-unknown-linux-musl aarch64-unknown-linux-musl
#                    armv7-unknown-linux-musleabihf
#
# Installs what it needs, idempotently (Debian host):
#   apt:    qemu-user-static file  (apt-get update only when something is missing)
#   pip:    ziglang==$ZIGLANG_VERSION cargo-zigbuild==$ZIGBUILD_VERSION
#   rustup: the targets; where a target's prebuilt std cannot be downloaded (armv7 on some
#           mirrors: HTTP 404) it adds rust-src and builds std from source:
#           RUSTC_BOOTSTRAP=1 cargo zigbuild ... -Zbuild-std=std,panic_abort
#           (+ rustflags "-C link-self-contained=no", see .cargo/config.toml)
# Then, per target: `cargo zigbuild --release --target T`, and prints the binary's path, the
# `file` verdict (must be statically linked / static-pie, else the script fails), size, build time.
#
# environment (optional):
#   CARGO_TARGET_DIR          honoured (default: the project's target dir)
#   ZIGLANG_VERSION=0.17.0    pip pins
#   ZIGBUILD_VERSION=0.24.0
#   CROSS_BUILD_STD=auto      auto: build std from source only when the prebuilt std is not
#                             installable; always: always for every target; never: fail instead
#   CROSS_NO_INSTALL=1        install nothing, only check that the tools are there
#   CROSS_CARGO_ARGS="..."    extra arguments for cargo zigbuild (e.g. --locked)
set -euo pipefail

ALL_TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)
ZIGLANG_VERSION=${ZIGLANG_VERSION:-0.17.0}
ZIGBUILD_VERSION=${ZIGBUILD_VERSION:-0.24.0}
CROSS_BUILD_STD=${CROSS_BUILD_STD:-auto}
CROSS_NO_INSTALL=${CROSS_NO_INSTALL:-0}
BIN_NAME=openclaw-edge

log() { printf 'cross-build: %s\n' "$*"; }
die() { printf 'cross-build: ERROR: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in
  -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[ -f Cargo.toml ] || die "no Cargo.toml in $ROOT"

if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi
for t in "${TARGETS[@]}"; do
  case " ${ALL_TARGETS[*]} " in
    *" $t "*) ;;
    *) die "unsupported target '$t' (supported: ${ALL_TARGETS[*]})" ;;
  esac
done
case "$CROSS_BUILD_STD" in auto|always|never) ;; *) die "CROSS_BUILD_STD must be auto, always or never" ;; esac

SUDO=
if [ "$(id -u)" != 0 ]; then command -v sudo >/dev/null 2>&1 && SUDO=sudo; fi

# ---------------------------------------------------------------- 1. Debian packages
apt_ensure() {
  local missing=() p
  for p in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$CROSS_NO_INSTALL" = 1 ] && die "missing Debian packages: ${missing[*]} (CROSS_NO_INSTALL=1)"
  command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get: install them by hand"
  [ "$(id -u)" = 0 ] || [ -n "$SUDO" ] || die "missing packages ${missing[*]}: run as root or install sudo"
  log "apt: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
apt_pkgs=(qemu-user-static file)
command -v python3 >/dev/null 2>&1 || apt_pkgs+=(python3)
apt_ensure "${apt_pkgs[@]}"
if ! python3 -m pip --version >/dev/null 2>&1; then apt_ensure python3-pip; fi
python3 -m pip --version >/dev/null 2>&1 || die "python3 -m pip does not work"

# ---------------------------------------------------------------- 2. zig + cargo-zigbuild (PyPI)
# (capture first: `pip show | grep -q` can fail under pipefail when grep exits early -> SIGPIPE)
pip_has() { local out; out=$(python3 -m pip show "$1" 2>/dev/null) || return 1; grep -qx "Version: $2" <<<"$out"; }
pip_install() {
  [ "$CROSS_NO_INSTALL" = 1 ] && die "pip package $1 missing (CROSS_NO_INSTALL=1)"
  log "pip: installing $1"
  # Debian's own python refuses installs outside a venv (PEP 668): retry with the override.
  python3 -m pip install -q "$1" 2>/dev/null \
    || python3 -m pip install -q --break-system-packages "$1" \
    || die "pip install $1 failed"
}
pip_has ziglang "$ZIGLANG_VERSION" || pip_install "ziglang==$ZIGLANG_VERSION"
pip_has cargo-zigbuild "$ZIGBUILD_VERSION" || pip_install "cargo-zigbuild==$ZIGBUILD_VERSION"

# pip may put the cargo-zigbuild script in a directory that is not on PATH.
if ! command -v cargo-zigbuild >/dev/null 2>&1; then
  cands=()
  cands+=("$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)")
  cands+=("$(python3 -m site --user-base 2>/dev/null || true)/bin")
  loc=$(python3 -m pip show -f cargo-zigbuild 2>/dev/null | sed -n 's/^Location: //p')
  while read -r f; do
    if [ -n "$f" ] && [ -n "$loc" ] && d=$(cd "$loc" && cd "$(dirname "$f")" 2>/dev/null && pwd); then
      cands+=("$d")
    fi
  done < <(python3 -m pip show -f cargo-zigbuild 2>/dev/null | sed -n 's#^ *\(.*bin/cargo-zigbuild\)$#\1#p')
  for d in "${cands[@]}"; do
    if [ -n "$d" ] && [ -x "$d/cargo-zigbuild" ]; then
      log "cargo-zigbuild found in $d (not on PATH; added for this run)"
      PATH="$d:$PATH"; export PATH; break
    fi
  done
fi
command -v cargo-zigbuild >/dev/null 2>&1 || die "cargo-zigbuild is installed but not found; add pip's script dir to PATH"
# cargo-zigbuild uses `zig` from PATH, else `python3 -m ziglang` (the PyPI package).
command -v zig >/dev/null 2>&1 || python3 -m ziglang version >/dev/null 2>&1 || die "zig not usable (python3 -m ziglang failed)"

# ---------------------------------------------------------------- 3. Rust targets
command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust with rustup)"
command -v rustup >/dev/null 2>&1 || die "rustup not found (needed for 'rustup target add')"
declare -A BUILD_STD=()
installed=$(rustup target list --installed)
for t in "${TARGETS[@]}"; do
  if [ "$CROSS_BUILD_STD" = always ]; then BUILD_STD[$t]=1; continue; fi
  if grep -qx "$t" <<<"$installed"; then BUILD_STD[$t]=0; continue; fi
  [ "$CROSS_NO_INSTALL" = 1 ] && [ "$CROSS_BUILD_STD" = never ] && die "target $t not installed"
  addlog=$(mktemp)
  if [ "$CROSS_NO_INSTALL" != 1 ] && RUST_BACKTRACE=0 rustup target add "$t" >"$addlog" 2>&1; then
    log "rustup: added target $t"; BUILD_STD[$t]=0
  else
    [ -s "$addlog" ] && log "rustup target add $t failed: $(grep -m1 -iE 'error|404' "$addlog" || tail -n1 "$addlog")"
    [ "$CROSS_BUILD_STD" = never ] && { rm -f "$addlog"; die "prebuilt std for $t unavailable and CROSS_BUILD_STD=never"; }
    log "prebuilt std for $t unavailable: building std from source (-Zbuild-std)"
    BUILD_STD[$t]=1
  fi
  rm -f "$addlog"
done
need_src=0
for t in "${TARGETS[@]}"; do [ "${BUILD_STD[$t]}" = 1 ] && need_src=1; done
if [ "$need_src" = 1 ] && ! grep -q '^rust-src' <<<"$(rustup component list --installed)"; then
  [ "$CROSS_NO_INSTALL" = 1 ] && die "rust-src missing (CROSS_NO_INSTALL=1)"
  log "rustup: adding rust-src (for -Zbuild-std)"
  RUST_BACKTRACE=0 rustup component add rust-src >/dev/null || die "rustup component add rust-src failed"
fi

# ---------------------------------------------------------------- 4. build
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null || true)
[ -n "$TARGET_DIR" ] || TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

log "rustc: $(rustc --version)"
log "cargo-zigbuild: $(cargo-zigbuild --version 2>/dev/null | head -n1), zig: $(zig version 2>/dev/null || python3 -m ziglang version)"
log "target dir: $TARGET_DIR"

# shellcheck disable=SC2206
extra=(${CROSS_CARGO_ARGS:-})
declare -A SECS=() SIZE=() VERDICT=()
fail=0
for t in "${TARGETS[@]}"; do
  cmd=(cargo zigbuild --release --target "$t" "${extra[@]}")
  envs=()
  if [ "${BUILD_STD[$t]}" = 1 ]; then
    cmd+=("-Zbuild-std=std,panic_abort")
    envs+=(RUSTC_BOOTSTRAP=1)  # unlocks -Zbuild-std on the stable toolchain
    # std from source has no self-contained CRT objects; zig provides musl's (see .cargo/config.toml).
    if [ -n "${RUSTFLAGS:-}" ]; then
      # RUSTFLAGS replaces the config's target rustflags: keep the flag.
      case "$RUSTFLAGS" in *link-self-contained*) ;; *) envs+=("RUSTFLAGS=$RUSTFLAGS -C link-self-contained=no") ;; esac
    elif [ "$t" != armv7-unknown-linux-musleabihf ]; then
      v="CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$t")_RUSTFLAGS"
      [ -n "${!v:-}" ] || envs+=("$v=-C link-self-contained=no")
    fi
  fi
  log "=== $t: ${envs[*]:+${envs[*]} }${cmd[*]}"
  t0=$(date +%s)
  if ! env "${envs[@]}" "${cmd[@]}"; then
    log "FAIL: build for $t failed"; fail=1; continue
  fi
  SECS[$t]=$(( $(date +%s) - t0 ))
  bin="$TARGET_DIR/$t/release/$BIN_NAME"
  [ -f "$bin" ] || { log "FAIL: $bin not found after the build"; fail=1; continue; }
  verdict=$(file -b "$bin")
  VERDICT[$t]=$verdict
  SIZE[$t]=$(stat -c %s "$bin")
  echo "  path:    $bin"
  echo "  file:    $verdict"
  echo "  size:    ${SIZE[$t]} bytes"
  echo "  time:    ${SECS[$t]} s"
  case "$verdict" in
    *"statically linked"*|*"static-pie linked"*) ;;
    *) log "FAIL: $bin is not statically linked"; fail=1 ;;
  esac
done

echo
log "summary:"
printf '  %-34s %10s %6s  %s\n' target bytes secs static
for t in "${TARGETS[@]}"; do
  st=no
  case "${VERDICT[$t]:-}" in *"statically linked"*|*"static-pie linked"*) st=yes ;; esac
  [ -n "${SIZE[$t]:-}" ] || st=FAILED
  printf '  %-34s %10s %6s  %s\n' "$t" "${SIZE[$t]:--}" "${SECS[$t]:--}" "$st"
done
[ "$fail" = 0 ] || die "one or more targets failed"
log "OK"
