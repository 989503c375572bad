#!/usr/bin/env bash
# bench/run.sh — build the static gateway binary (unless given), then run the gateway benchmark
# (bench/gateway.rs), the sessions benchmark (bench/sessions.rs: 10,000 sessions × 20 messages)
# and the chat benchmark (bench/chat.rs: 20 streamed answers × 2,000 tokens from a fake provider).
#
# usage: bench/run.sh [--bin PATH] [--build-ram] [--quick] [--config F] [--json-out F]
#                     [--sessions-json-out F] [--chat-json-out F]
#                     [--sessions-only] [--chat-only] [--no-sessions] [--no-chat] [--keep]
#   --bin PATH    measure this binary instead of building one
#   --build-ram   also measure the peak RAM of a clean `cargo build --release` (fat LTO) and a
#                 clean `cargo build --profile lowmem` with /usr/bin/time -v (slow: minutes each)
#   --quick       gateway bench: idle window 5–15 s instead of 5–35 s, 3 start-ups instead of 5;
#                 sessions bench: 2,000 sessions × 20 messages instead of 10,000 × 20;
#                 chat bench: 5 chats × 500 tokens instead of 20 × 2,000
#   --config F    pass a config file to the server (e.g. one with profile = "core"); gateway and
#                 sessions benches only (the chat bench writes its own config per scenario)
#   --json-out F  also write the gateway bench's BENCH_JSON line to F
#   --sessions-json-out F  also write the sessions bench's BENCH_SESSIONS_JSON line to F
#   --chat-json-out F      also write the chat bench's BENCH_CHAT_JSON line to F
#   --sessions-only        only the sessions bench (with --chat-only: both of them)
#   --chat-only            only the chat bench (with --sessions-only: both of them)
#   --no-sessions          skip the sessions bench
#   --no-chat              skip the chat bench
#   --keep        keep the servers' temp dirs (logs, state, seeded databases) for inspection
#
# Binary, when --bin is not given, first that works of:
#   1. scripts/cross-build.sh x86_64-unknown-linux-musl   (static, stripped; the measured target)
#   2. cargo zigbuild --release --target x86_64-unknown-linux-musl
#   3. cargo build --release --target x86_64-unknown-linux-musl
#   4. cargo build --release   (host build: noted in the table, targets apply to 1-3)
# CARGO_TARGET_DIR is honoured (default: the project's target/). The bench client itself is built
# by `cargo bench` with LTO off and opt-level 3 (profile overrides through the environment), so it
# builds fast and spends little CPU next to the server; the server binary is not affected.
#
# Everything runs on 127.0.0.1 with a temp state dir; the server is stopped with SIGTERM.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: ERROR: %s\n' "$*" >&2; exit 1; }

abspath() { (cd "$(dirname "$1")" 2>/dev/null && printf '%s/%s\n' "$(pwd)" "$(basename "$1")") || die "no such directory: $(dirname "$1")"; }

BIN=
BUILD_RAM=0
PASS=()
SESS=()
CHAT=()
RUN_GATEWAY=1
RUN_SESSIONS=1
RUN_CHAT=1
ONLY_SESSIONS=0
ONLY_CHAT=0
QUICK=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --bin) [ "$#" -ge 2 ] || die "--bin needs a path"; BIN=$(abspath "$2"); shift 2 ;;
    --build-ram) BUILD_RAM=1; shift ;;
    --quick|--keep) PASS+=("$1"); SESS+=("$1"); CHAT+=("$1"); [ "$1" = --quick ] && QUICK=1; shift ;;
    --config)
      [ "$#" -ge 2 ] || die "$1 needs a value"
      PASS+=("$1" "$(abspath "$2")"); SESS+=("$1" "$(abspath "$2")"); shift 2 ;;
    --json-out)
      [ "$#" -ge 2 ] || die "$1 needs a value"
      PASS+=("$1" "$(abspath "$2")"); shift 2 ;;
    --sessions-json-out)
      [ "$#" -ge 2 ] || die "$1 needs a value"
      SESS+=(--json-out "$(abspath "$2")"); shift 2 ;;
    --chat-json-out)
      [ "$#" -ge 2 ] || die "$1 needs a value"
      CHAT+=(--json-out "$(abspath "$2")"); shift 2 ;;
    --sessions-only) ONLY_SESSIONS=1; shift ;;
    --chat-only) ONLY_CHAT=1; shift ;;
    --no-sessions) RUN_SESSIONS=0; shift ;;
    --no-chat) RUN_CHAT=0; shift ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
cd "$ROOT"
# --*-only: exactly the benches named (then --no-* can still drop one of them).
if [ "$ONLY_SESSIONS" = 1 ] || [ "$ONLY_CHAT" = 1 ]; then
  RUN_GATEWAY=0
  [ "$ONLY_SESSIONS" = 1 ] || RUN_SESSIONS=0
  [ "$ONLY_CHAT" = 1 ] || RUN_CHAT=0
fi
[ "$RUN_GATEWAY" = 1 ] || [ "$RUN_SESSIONS" = 1 ] || [ "$RUN_CHAT" = 1 ] \
  || die "the --*-only / --no-* flags given leave nothing to run"
[ "$RUN_GATEWAY" = 1 ] || [ "$BUILD_RAM" = 0 ] || die "--build-ram belongs to the gateway bench: drop --sessions-only / --chat-only"

command -v cargo >/dev/null 2>&1 || die "cargo not found"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
MUSL=x86_64-unknown-linux-musl
NOTE=

# ------------------------------------------------------------------ 1. the binary under test
if [ -n "$BIN" ]; then
  { [ -f "$BIN" ] && [ -x "$BIN" ]; } || die "--bin $BIN is not an executable file"
  NOTE="given with --bin"
else
  MUSL_BIN="$TARGET_DIR/$MUSL/release/openclaw-edge"
  built=0
  if [ -x scripts/cross-build.sh ]; then
    log "building with scripts/cross-build.sh $MUSL"
    if scripts/cross-build.sh "$MUSL" >&2 && [ -x "$MUSL_BIN" ]; then
      built=1; NOTE="scripts/cross-build.sh $MUSL"
    else
      log "scripts/cross-build.sh failed; trying cargo zigbuild"
    fi
  fi
  if [ "$built" = 0 ] && command -v cargo-zigbuild >/dev/null 2>&1; then
    log "building with cargo zigbuild --release --target $MUSL"
    if cargo zigbuild --release --target "$MUSL" >&2 && [ -x "$MUSL_BIN" ]; then
      built=1; NOTE="cargo zigbuild --release --target $MUSL"
    else
      log "cargo zigbuild failed"
    fi
  fi
  installed=$(rustup target list --installed 2>/dev/null || true)
  if [ "$built" = 0 ] && grep -qx "$MUSL" <<<"$installed"; then
    log "building with cargo build --release --target $MUSL"
    if cargo build --release --target "$MUSL" >&2 && [ -x "$MUSL_BIN" ]; then
      built=1; NOTE="cargo build --release --target $MUSL"
    else
      log "cargo build --target $MUSL failed"
    fi
  fi
  if [ "$built" = 1 ]; then
    BIN=$MUSL_BIN
  else
    log "no static musl build possible: falling back to a host cargo build --release"
    cargo build --release >&2 || die "cargo build --release failed"
    BIN="$TARGET_DIR/release/openclaw-edge"
    [ -x "$BIN" ] || die "$BIN not found after cargo build --release"
    NOTE="FALLBACK host cargo build --release (not the static x86_64 musl build the targets are for)"
  fi
fi
log "binary: $BIN ($NOTE)"

# ------------------------------------------------------------------ 2. peak RAM of clean builds
BUILD_RAM_FILE=
cleanup() { [ -n "$BUILD_RAM_FILE" ] && rm -f "$BUILD_RAM_FILE"; [ -n "${SCRATCH:-}" ] && rm -rf "$SCRATCH"; return 0; }
trap cleanup EXIT

if [ "$BUILD_RAM" = 1 ]; then
  if [ ! -x /usr/bin/time ]; then
    log "/usr/bin/time missing: installing the Debian 'time' package"
    SUDO=
    [ "$(id -u)" = 0 ] || SUDO=sudo
    command -v apt-get >/dev/null 2>&1 || die "no /usr/bin/time and no apt-get: install GNU time"
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq time >/dev/null; } \
      || die "apt-get install time failed"
  fi
  tv_out=$(/usr/bin/time -v true 2>&1 || true)
  case "$tv_out" in *"Maximum resident set size"*) ;; *) die "/usr/bin/time is not GNU time" ;; esac
  cargo fetch --locked >&2 || cargo fetch >&2 || die "cargo fetch failed"
  BUILD_RAM_FILE=$(mktemp /tmp/openclaw-edge-buildram.XXXXXX)
  for prof in release lowmem; do
    SCRATCH=$(mktemp -d /tmp/openclaw-edge-buildram-tgt.XXXXXX)
    if [ "$prof" = release ]; then args=(--release); else args=(--profile lowmem); fi
    log "clean build for peak RAM: cargo build ${args[*]} --bin openclaw-edge (CARGO_TARGET_DIR=$SCRATCH; takes minutes)"
    tv="$SCRATCH.time"
    if CARGO_TARGET_DIR=$SCRATCH /usr/bin/time -v -o "$tv" \
        cargo build --locked --offline "${args[@]}" --bin openclaw-edge >&2; then
      kib=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$tv")
      wall=$(sed -n 's/^[[:space:]]*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tv")
      echo "$prof ${kib:-?} ${wall:-?}" >>"$BUILD_RAM_FILE"
      log "  $prof: max RSS ${kib:-?} KiB, wall ${wall:-?}"
    else
      echo "$prof - - build failed" >>"$BUILD_RAM_FILE"
      log "  $prof: build FAILED"
    fi
    rm -rf "$SCRATCH" "$tv"; SCRATCH=
  done
  PASS+=(--build-ram-file "$BUILD_RAM_FILE")
fi

# ------------------------------------------------------------------ 3. the bench client
# Client-only profile overrides: fast to build, fast to run; [profile.bench] inherits release.
export CARGO_PROFILE_BENCH_LTO=false
export CARGO_PROFILE_BENCH_OPT_LEVEL=3
export CARGO_PROFILE_BENCH_CODEGEN_UNITS=16
if [ "$RUN_GATEWAY" = 1 ]; then
  log "running: cargo bench --bench gateway -- --bin $BIN ${PASS[*]:-}"
  cargo bench --bench gateway -- --bin "$BIN" --bin-note "$NOTE" "${PASS[@]}"
fi

# ------------------------------------------------------------------ 4. the sessions bench
if [ "$RUN_SESSIONS" = 1 ]; then
  if [ "$QUICK" = 1 ]; then
    log "sessions bench, --quick: data set 2,000 sessions × 20 messages (not 10,000 × 20), small set 1,000 × 2"
  else
    log "sessions bench: data set 10,000 sessions × 20 messages, small set 1,000 × 2"
  fi
  log "running: cargo bench --bench sessions -- --bin $BIN ${SESS[*]:-}"
  cargo bench --bench sessions -- --bin "$BIN" --bin-note "$NOTE" "${SESS[@]}"
fi

# ------------------------------------------------------------------ 5. the chat bench
if [ "$RUN_CHAT" = 1 ]; then
  if [ "$QUICK" = 1 ]; then
    log "chat bench, --quick: 5 chats × 500 tokens (not 20 × 2,000), fake provider in the bench process"
  else
    log "chat bench: 20 chats × 2,000 tokens, fake provider in the bench process"
  fi
  log "running: cargo bench --bench chat -- --bin $BIN ${CHAT[*]:-}"
  cargo bench --bench chat -- --bin "$BIN" --bin-note "$NOTE" "${CHAT[@]}"
fi
