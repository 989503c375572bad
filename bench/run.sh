#!/usr/bin/env bash
# bench/run.sh — build the static gateway binary (unless given), then run the gateway benchmark
# (bench/gateway.rs), the sessions benchmark (bench/sessions.rs: 10,000 sessions × 20 messages),
# the chat benchmark (bench/chat.rs: 20 streamed answers × 2,000 tokens from a fake provider),
# the defender benchmark (bench/defender.rs: the pure decision pipeline in-process; needs no
# server binary), the Telegram benchmark (bench/telegram.rs: the bridge idle in long poll and
# a burst of 1,000 updates from 100 chats, against a fake Bot API and a fake provider) and the
# memory benchmark (bench/memory.rs: 20,000 entries through memory.import, then 1,000
# memory.search calls, RSS, database size and health latency against the empty store) and the
# mesh benchmark (bench/mesh.rs: 10 peer gateways joined to a hub as nodes; hub RSS, and
# edge.mesh.status latency with 10 peers, one of them dead).
#
# usage: bench/run.sh [--bin PATH] [--build-ram] [--quick] [--config F] [--json-out F]
#                     [--sessions-json-out F] [--chat-json-out F] [--defender-json-out F]
#                     [--telegram-json-out F] [--memory-json-out F] [--mesh-json-out F]
#                     [--sessions-only] [--chat-only] [--defender-only] [--telegram-only]
#                     [--memory-only] [--mesh-only]
#                     [--no-sessions] [--no-chat] [--no-defender] [--no-telegram] [--no-memory]
#                     [--no-mesh]
#                     [--keep]
#   --bin PATH    measure this binary instead of building one
#   --build-ram   also measure the peak RAM of a clean `cargo build --release` (fat LTO) and a
#                 clean `cargo build --profile lowmem` with /usr/bin/time -v (slow: minutes each)
#   --quick       gateway bench: idle window 5–15 s instead of 5–35 s, 3 start-ups instead of 5;
#                 sessions bench: 2,000 sessions × 20 messages instead of 10,000 × 20;
#                 chat bench: 5 chats × 500 tokens instead of 20 × 2,000;
#                 defender bench: 500 / 50 timed decisions instead of 2,000 / 200, 20,000
#                 decisions for RSS / throughput instead of 100,000;
#                 telegram bench: idle window 3 s instead of 5 s, burst 20 chats × 10 updates
#                 instead of 100 × 10;
#                 memory bench: 5,000 entries and 300 recalls instead of 20,000 and 1,000;
#                 mesh bench: 30 edge.mesh.status calls per phase instead of 200
#   --config F    pass a config file to the server (e.g. one with profile = "core"); gateway,
#                 sessions and memory benches only (the chat and telegram benches write their
#                 own config per scenario)
#   --json-out F  also write the gateway bench's BENCH_JSON line to F
#   --sessions-json-out F  also write the sessions bench's BENCH_SESSIONS_JSON line to F
#   --chat-json-out F      also write the chat bench's BENCH_CHAT_JSON line to F
#   --defender-json-out F  also write the defender bench's BENCH_DEFENDER_JSON line to F
#   --telegram-json-out F  also write the telegram bench's BENCH_TELEGRAM_JSON line to F
#   --memory-json-out F    also write the memory bench's BENCH_MEMORY_JSON line to F
#   --mesh-json-out F      also write the mesh bench's BENCH_MESH_JSON line to F
#   --sessions-only        only the sessions bench (--*-only flags add up: those benches only)
#   --chat-only            only the chat bench
#   --defender-only        only the defender bench (no server binary is built)
#   --telegram-only        only the telegram bench
#   --memory-only          only the memory bench
#   --mesh-only            only the mesh bench
#   --no-sessions          skip the sessions bench
#   --no-chat              skip the chat bench
#   --no-defender          skip the defender bench
#   --no-telegram          skip the telegram bench
#   --no-memory            skip the memory bench
#   --no-mesh              skip the mesh bench
#   --keep        keep the servers' temp dirs (logs, state, seeded databases) for inspection
#
# Binary, when --bin is not given, first that works of:
#   1. scripts/cross-build.sh x86_64-unknown-linux-musl   (static, stripped; the measured target)
#   2. cargo zigbuild --release --target x86_64-unknown-linux-musl
#   3. cargo build --release --target x86_64-unknown-linux-musl
#   4. cargo build --release   (host build: noted in the table, targets apply to 1-3)
# CARGO_TARGET_DIR is honoured (default: the project's target/). The bench client itself is built
# by `cargo bench` with LTO off and opt-level 3 (profile overrides through the environment), so it
# builds fast and spends little CPU next to the server; the server binary is not affected. The
# defender bench links the code it measures, so it is built without those overrides: the bench
# profile inherits release (opt-level z, fat LTO), which is what ships.
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
DEF=()
TG=()
MEM=()
MESH=()
RUN_GATEWAY=1
RUN_SESSIONS=1
RUN_CHAT=1
RUN_DEFENDER=1
RUN_TELEGRAM=1
RUN_MEMORY=1
RUN_MESH=1
ONLY_SESSIONS=0
ONLY_CHAT=0
ONLY_DEFENDER=0
ONLY_TELEGRAM=0
ONLY_MEMORY=0
ONLY_MESH=0
QUICK=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --bin) [ "$#" -ge 2 ] || die "--bin needs a path"; BIN=$(abspath "$2"); shift 2 ;;
    --build-ram) BUILD_RAM=1; shift ;;
    --quick|--keep)
      PASS+=("$1"); SESS+=("$1"); CHAT+=("$1"); TG+=("$1"); MEM+=("$1"); MESH+=("$1")
      if [ "$1" = --quick ]; then QUICK=1; DEF+=("$1"); fi
      shift ;;
    --config)
      [ "$#" -ge 2 ] || die "$1 needs a value"
      PASS+=("$1" "$(abspath "$2")"); SESS+=("$1" "$(abspath "$2")"); MEM+=("$1" "$(abspath "$2")")
      shift 2 ;;
    --json-out)
      [ "$#" -ge 2 ] || die "$1 needs a value"
      PASS+=("$1" "$(abspath "$2")"); shift 2 ;;
    --sessions-json-out)
      [ "$#" -ge 2 ] || die "$1 needs a value"
      SESS+=(--json-out "$(abspath "$2")"); shift 2 ;;
    --chat-json-out)
      [ "$#" -ge 2 ] || die "$1 needs a value"
      CHAT+=(--json-out "$(abspath "$2")"); shift 2 ;;
    --defender-json-out)
      [ "$#" -ge 2 ] || die "$1 needs a value"
      DEF+=(--json-out "$(abspath "$2")"); shift 2 ;;
    --telegram-json-out)
      [ "$#" -ge 2 ] || die "$1 needs a value"
      TG+=(--json-out "$(abspath "$2")"); shift 2 ;;
    --memory-json-out)
      [ "$#" -ge 2 ] || die "$1 needs a value"
      MEM+=(--json-out "$(abspath "$2")"); shift 2 ;;
    --mesh-json-out)
      [ "$#" -ge 2 ] || die "$1 needs a value"
      MESH+=(--json-out "$(abspath "$2")"); shift 2 ;;
    --sessions-only) ONLY_SESSIONS=1; shift ;;
    --chat-only) ONLY_CHAT=1; shift ;;
    --defender-only) ONLY_DEFENDER=1; shift ;;
    --telegram-only) ONLY_TELEGRAM=1; shift ;;
    --memory-only) ONLY_MEMORY=1; shift ;;
    --mesh-only) ONLY_MESH=1; shift ;;
    --no-sessions) RUN_SESSIONS=0; shift ;;
    --no-chat) RUN_CHAT=0; shift ;;
    --no-defender) RUN_DEFENDER=0; shift ;;
    --no-telegram) RUN_TELEGRAM=0; shift ;;
    --no-memory) RUN_MEMORY=0; shift ;;
    --no-mesh) RUN_MESH=0; shift ;;
    -h|--help) sed -n '2,68p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
cd "$ROOT"
# --*-only: exactly the benches named (then --no-* can still drop one of them).
if [ "$ONLY_SESSIONS" = 1 ] || [ "$ONLY_CHAT" = 1 ] || [ "$ONLY_DEFENDER" = 1 ] || [ "$ONLY_TELEGRAM" = 1 ] \
    || [ "$ONLY_MEMORY" = 1 ] || [ "$ONLY_MESH" = 1 ]; then
  RUN_GATEWAY=0
  [ "$ONLY_SESSIONS" = 1 ] || RUN_SESSIONS=0
  [ "$ONLY_CHAT" = 1 ] || RUN_CHAT=0
  [ "$ONLY_DEFENDER" = 1 ] || RUN_DEFENDER=0
  [ "$ONLY_TELEGRAM" = 1 ] || RUN_TELEGRAM=0
  [ "$ONLY_MEMORY" = 1 ] || RUN_MEMORY=0
  [ "$ONLY_MESH" = 1 ] || RUN_MESH=0
fi
[ "$RUN_GATEWAY" = 1 ] || [ "$RUN_SESSIONS" = 1 ] || [ "$RUN_CHAT" = 1 ] || [ "$RUN_DEFENDER" = 1 ] \
  || [ "$RUN_TELEGRAM" = 1 ] || [ "$RUN_MEMORY" = 1 ] || [ "$RUN_MESH" = 1 ] \
  || die "the --*-only / --no-* flags given leave nothing to run"
[ "$RUN_GATEWAY" = 1 ] || [ "$BUILD_RAM" = 0 ] || die "--build-ram belongs to the gateway bench: drop --sessions-only / --chat-only / --defender-only / --telegram-only / --memory-only"
# Only the defender bench: it runs the pipeline in-process, no server binary is needed.
NEED_BIN=0
{ [ "$RUN_GATEWAY" = 1 ] || [ "$RUN_SESSIONS" = 1 ] || [ "$RUN_CHAT" = 1 ] || [ "$RUN_TELEGRAM" = 1 ] \
  || [ "$RUN_MEMORY" = 1 ] || [ "$RUN_MESH" = 1 ]; } && NEED_BIN=1

command -v cargo >/dev/null 2>&1 || die "cargo not found"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
MUSL=x86_64-unknown-linux-musl
NOTE=

# ------------------------------------------------------------------ 1. the binary under test
if [ "$NEED_BIN" = 0 ]; then
  [ -z "$BIN" ] || log "--bin $BIN is not used: the defender bench runs the pipeline in-process"
  log "no server binary needed (defender bench only): skipping the build"
elif [ -n "$BIN" ]; then
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
[ "$NEED_BIN" = 0 ] || log "binary: $BIN ($NOTE)"

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

# ------------------------------------------------------------------ 6. the defender bench
if [ "$RUN_DEFENDER" = 1 ]; then
  if [ "$QUICK" = 1 ]; then
    log "defender bench, --quick: 500 timed decisions per kind (64 KiB prompts: 50), 20,000 for RSS / throughput"
  else
    log "defender bench: 2,000 timed decisions per kind (64 KiB prompts: 200), 100,000 for RSS / throughput"
  fi
  # The bench compiles the pipeline it measures: build it with the bench profile as Cargo.toml
  # has it (inherits release: opt-level z, fat LTO, codegen-units 1), not the client overrides.
  log "running: cargo bench --bench defender -- ${DEF[*]:-} (bench profile = release settings; the first build takes minutes)"
  env -u CARGO_PROFILE_BENCH_LTO -u CARGO_PROFILE_BENCH_OPT_LEVEL -u CARGO_PROFILE_BENCH_CODEGEN_UNITS \
    cargo bench --bench defender -- "${DEF[@]}"
fi

# ------------------------------------------------------------------ 7. the telegram bench
if [ "$RUN_TELEGRAM" = 1 ]; then
  if [ "$QUICK" = 1 ]; then
    log "telegram bench, --quick: idle window 3 s, burst 20 chats × 10 updates (not 100 × 10), fake Bot API and provider in the bench process"
  else
    log "telegram bench: idle window 5 s, burst 100 chats × 10 updates, fake Bot API and provider in the bench process"
  fi
  log "running: cargo bench --bench telegram -- --bin $BIN ${TG[*]:-}"
  cargo bench --bench telegram -- --bin "$BIN" --bin-note "$NOTE" "${TG[@]}"
fi

# ------------------------------------------------------------------ 8. the memory bench
if [ "$RUN_MEMORY" = 1 ]; then
  if [ "$QUICK" = 1 ]; then
    log "memory bench, --quick: 5,000 entries and 300 recalls (not 20,000 and 1,000)"
  else
    log "memory bench: 20,000 entries through memory.import, 1,000 memory.search calls"
  fi
  log "running: cargo bench --bench memory -- --bin $BIN ${MEM[*]:-}"
  cargo bench --bench memory -- --bin "$BIN" --bin-note "$NOTE" "${MEM[@]}"
fi

# ------------------------------------------------------------------ 9. the mesh bench
if [ "$RUN_MESH" = 1 ]; then
  if [ "$QUICK" = 1 ]; then
    log "mesh bench, --quick: 10 peers joined to a hub, 30 edge.mesh.status calls per phase (not 200)"
  else
    log "mesh bench: 10 peers joined to a hub, 200 edge.mesh.status calls per phase"
  fi
  log "running: cargo bench --bench mesh -- --bin $BIN ${MESH[*]:-}"
  cargo bench --bench mesh -- --bin "$BIN" --bin-note "$NOTE" "${MESH[@]}"
fi
