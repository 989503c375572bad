#!/usr/bin/env python3
"""Scripted WebSocket session against a running openclaw-edge, recording every frame.

Used by scripts/conformance.sh. Standard library only: the RFC 6455 client below
(handshake, masking, fragmentation, ping/pong, close) is deliberately small.

It drives the gateway through the handshake and the core methods, checks the
behaviour that PROTOCOL.md (§3, §4, §5, §6, §12b) describes, sends SIGTERM to the
server (given by --server-pid) to observe `shutdown` + close 1012, and writes every
frame in both directions to --out as JSON lines:

    {"conn": label, "dir": "in"|"out", "t": secs, "frame": obj}            text frame
    {"conn": label, "dir": "in", "t": secs, "raw": text}                   unparsable text
    {"conn": label, "dir": "in"|"out", "t": secs, "close": {code, reason}} close frame
    {"conn": label, "dir": "out", ..., "malformed": true}                  deliberately invalid

Schema validation of the recording is done separately (conformance_validate.py).
Every wait is bounded. Exit status: 0 when every check passed, 1 otherwise.
"""

import argparse
import base64
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import time
import urllib.error
import urllib.request
import uuid

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ADMIN_SCOPES = ["operator.admin", "operator.read"]
T0 = time.monotonic()


class Closed(Exception):
    """The peer closed the socket (close frame, or EOF when code is None)."""

    def __init__(self, code, reason):
        super().__init__(f"closed code={code} reason={reason!r}")
        self.code = code
        self.reason = reason


class Recorder:
    """Append-only log of every frame, flushed to a JSON-lines file."""

    def __init__(self, path):
        self.fh = open(path, "w", encoding="utf-8")

    def add(self, conn, direction, **kw):
        rec = {"conn": conn, "dir": direction, "t": round(time.monotonic() - T0, 3)}
        rec.update(kw)
        self.fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.fh.flush()


class WS:
    """Minimal RFC 6455 client for text frames."""

    def __init__(self, host, port, label, rec, path="/"):
        self.label = label
        self.rec = rec
        self.buf = b""
        self.closed = None  # (code, reason) once a close frame arrived
        self.inbox = []  # parsed frames read but not yet consumed
        self.seen = []  # every parsed inbound frame, in order
        self.sock = socket.create_connection((host, port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "User-Agent: openclaw-edge-conformance\r\n\r\n"
        )
        self.sock.sendall(req.encode())
        head = b""
        deadline = time.monotonic() + 10
        while b"\r\n\r\n" not in head:
            if time.monotonic() > deadline:
                raise TimeoutError("upgrade response timeout")
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"EOF during upgrade: {head!r}")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            raise ConnectionError(f"upgrade refused: {lines[0]}")
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if hdrs.get("sec-websocket-accept") != want:
            raise ConnectionError("bad Sec-WebSocket-Accept")
        if "sec-websocket-extensions" in hdrs:
            raise ConnectionError(f"unrequested extension: {hdrs['sec-websocket-extensions']}")

    # -- low level ---------------------------------------------------------

    def _send_raw(self, opcode, payload):
        head = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.label}: no frame before deadline")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError(f"{self.label}: no frame before deadline") from None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = self.closed or (None, "EOF")
                self.rec.add(self.label, "in", close={"code": None, "reason": "EOF without close frame"})
                raise Closed(None, "EOF without close frame")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _read_frame(self, deadline):
        b0, b1 = self._read_exact(2, deadline)
        fin, opcode = b0 & 0x80, b0 & 0x0F
        if b0 & 0x70:
            raise ConnectionError(f"{self.label}: RSV bits set ({b0:#x}) without negotiated extension")
        if b1 & 0x80:
            raise ConnectionError(f"{self.label}: server frame is masked")
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._read_exact(2, deadline))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._read_exact(8, deadline))
        return bool(fin), opcode, self._read_exact(n, deadline)

    def _read_message(self, deadline):
        """Next text message (str); answers pings; raises Closed on close."""
        parts, first_op = [], None
        while True:
            fin, op, data = self._read_frame(deadline)
            if op == 0x9:
                self._send_raw(0xA, data)
                continue
            if op == 0xA:
                continue
            if op == 0x8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                reason = data[2:].decode("utf-8", "replace")
                self.closed = (code, reason)
                self.rec.add(self.label, "in", close={"code": code, "reason": reason})
                try:
                    self._send_raw(0x8, data[:2])
                except OSError:
                    pass
                raise Closed(code, reason)
            if op in (0x1, 0x2):
                first_op = op
                parts = [data]
            elif op == 0x0:
                parts.append(data)
            else:
                raise ConnectionError(f"{self.label}: unknown opcode {op}")
            if fin:
                if first_op == 0x2:
                    self.rec.add(self.label, "in", raw="<binary frame>", binary=True)
                    parts = []
                    continue
                return b"".join(parts).decode("utf-8")

    # -- JSON level ----------------------------------------------------------

    def send(self, obj, malformed=False):
        extra = {"malformed": True} if malformed else {}
        self.rec.add(self.label, "out", frame=obj, **extra)
        self._send_raw(0x1, json.dumps(obj).encode())

    def _pull(self, deadline):
        text = self._read_message(deadline)
        try:
            frame = json.loads(text)
        except ValueError:
            self.rec.add(self.label, "in", raw=text)
            return None
        self.rec.add(self.label, "in", frame=frame)
        self.seen.append(frame)
        return frame

    def wait_for(self, pred, timeout):
        """First frame matching pred (earlier unmatched frames stay in the inbox)."""
        for i, f in enumerate(self.inbox):
            if pred(f):
                return self.inbox.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            f = self._pull(deadline)
            if f is None:
                continue
            if pred(f):
                return f
            self.inbox.append(f)

    def wait_close(self, timeout):
        """Read (recording) until the close frame; returns (code, reason)."""
        if self.closed:
            return self.closed
        deadline = time.monotonic() + timeout
        try:
            while True:
                f = self._pull(deadline)
                if f is not None:
                    self.inbox.append(f)
        except Closed as c:
            return (c.code, c.reason)

    def close(self):
        try:
            if not self.closed:
                self._send_raw(0x8, struct.pack("!H", 1000))
                self.rec.add(self.label, "out", close={"code": 1000, "reason": ""})
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


class Session:
    def __init__(self, args):
        self.args = args
        self.rec = Recorder(args.out)
        self.results = []
        self.counter = 0

    # -- checks ------------------------------------------------------------

    def check(self, name, ok, detail=""):
        self.results.append((name, bool(ok), detail))
        status = "PASS" if ok else "FAIL"
        print(f"  [{status}] {name}" + (f" -- {detail}" if detail else ""), flush=True)
        return bool(ok)

    def nid(self):
        self.counter += 1
        return f"{self.counter}:{uuid.uuid4()}"

    # -- helpers -----------------------------------------------------------

    def open(self, label):
        return WS(self.args.host, self.args.port, label, self.rec)

    def challenge(self, ws):
        f = ws.wait_for(lambda f: f.get("type") == "event", 5)
        p = f.get("payload") or {}
        ok = (
            f.get("event") == "connect.challenge"
            and isinstance(p.get("nonce"), str)
            and p["nonce"].strip() != ""
            and isinstance(p.get("ts"), int)
        )
        self.check(f"{ws.label}: first frame is connect.challenge {{nonce, ts}}", ok, short(f))
        return p

    def connect_params(self, scopes, token=None, min_p=4, max_p=4, mode="cli", client_id="cli"):
        return {
            "minProtocol": min_p,
            "maxProtocol": max_p,
            "client": {
                "id": client_id,
                "version": "conformance",
                "platform": "linux",
                "mode": mode,
                "instanceId": str(uuid.uuid4()),
            },
            "role": "operator",
            "scopes": scopes,
            "caps": [],
            "auth": {"token": self.args.token if token is None else token},
            "userAgent": "openclaw-edge-conformance",
            "locale": "en-US",
        }

    def connect(self, label, scopes):
        ws = self.open(label)
        self.challenge(ws)
        rid = self.nid()
        ws.send({"type": "req", "id": rid, "method": "connect", "params": self.connect_params(scopes)})
        res = ws.wait_for(lambda f: f.get("type") == "res" and f.get("id") == rid, 5)
        p = res.get("payload") or {}
        self.check(
            f"{label}: connect -> hello-ok protocol 4",
            res.get("ok") is True and p.get("type") == "hello-ok" and p.get("protocol") == 4,
            short(res),
        )
        got = (p.get("auth") or {}).get("scopes")
        self.check(f"{label}: hello-ok auth.scopes == requested {scopes}", got == scopes, f"got {got}")
        return ws, p

    def call(self, ws, method, params=None, omit_params=False, timeout=5):
        rid = self.nid()
        frame = {"type": "req", "id": rid, "method": method}
        if not omit_params:
            frame["params"] = {} if params is None else params
        ws.send(frame)
        return ws.wait_for(lambda f: f.get("type") == "res" and f.get("id") == rid, timeout)

    def expect_error(self, name, res, code, detail_code=None, extra=None):
        err = res.get("error") or {}
        det = err.get("details") if isinstance(err.get("details"), dict) else {}
        ok = res.get("ok") is False and err.get("code") == code
        if detail_code is not None:
            ok = ok and det.get("code") == detail_code
        for k, v in (extra or {}).items():
            ok = ok and det.get(k) == v
        self.check(name, ok, short(err))
        return err

    # -- the script --------------------------------------------------------

    def http_checks(self):
        base = f"http://{self.args.host}:{self.args.port}"

        def get(path, body=None, auth=True):
            hdrs = {"Content-Type": "application/json"}
            if auth:
                hdrs["Authorization"] = f"Bearer {self.args.token}"
            req = urllib.request.Request(base + path, data=body, headers=hdrs)
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()

        st, body = get("/healthz", auth=False)
        self.check("http: GET /healthz -> 200 {ok:true}", st == 200 and jget(body, "ok") is True, body[:80])
        st, body = get("/readyz", auth=False)
        self.check("http: GET /readyz -> 200 {ready:true}", st == 200 and jget(body, "ready") is True, body[:80])
        st, body = get("/rpc/methods")
        self.check("http: GET /rpc/methods lists health", st == 200 and '"health"' in body, body[:80])
        st, body = get("/rpc", json.dumps({"method": "health", "params": {}}).encode())
        self.check("http: POST /rpc health with Bearer -> ok", st == 200 and jget(body, "ok") is True, body[:80])
        st, body = get("/rpc", json.dumps({"method": "health", "params": {}}).encode(), auth=False)
        self.check("http: POST /rpc without Bearer -> 401", st == 401, f"{st} {body[:80]}")

    def run(self):
        a = self.args
        print("session: HTTP surfaces", flush=True)
        self.http_checks()

        print("session: main connection (operator.admin + operator.read)", flush=True)
        main, hello = self.connect("main", ADMIN_SCOPES)
        pol = hello.get("policy") or {}
        self.check(
            f"main: policy.tickIntervalMs == {a.tick_ms}",
            pol.get("tickIntervalMs") == a.tick_ms,
            f"policy={json.dumps(pol)[:120]}",
        )
        snap = hello.get("snapshot") or {}
        self.check(
            "main: hello-ok snapshot.health.ok is true",
            isinstance(snap.get("health"), dict) and snap["health"].get("ok") is True,
        )
        methods = (hello.get("features") or {}).get("methods") or []
        events = (hello.get("features") or {}).get("events") or []
        want_m = ["health", "status", "system-presence", "last-heartbeat", "logs.tail", "config.get", "config.schema"]
        self.check("main: features.methods advertises the core methods", all(m in methods for m in want_m), f"{methods}")
        want_e = ["connect.challenge", "tick", "presence", "shutdown"]
        self.check("main: features.events advertises challenge/tick/presence/shutdown", all(e in events for e in want_e), f"{events}")

        res = self.call(main, "health", omit_params=True)
        self.check("main: health (no params key) -> ok, payload.ok", res.get("ok") is True and (res.get("payload") or {}).get("ok") is True, short(res))
        res = self.call(main, "status", {"includeChannelSummary": False, "includeCliProjection": True})
        p = res.get("payload") or {}
        self.check("main: status -> ok, has runtimeVersion/sessions/heartbeat", res.get("ok") is True and all(k in p for k in ("runtimeVersion", "sessions", "heartbeat")), short(res))
        res = self.call(main, "system-presence", omit_params=True)
        self.check("main: system-presence -> ok, array", res.get("ok") is True and isinstance(res.get("payload"), list), short(res))
        res = self.call(main, "last-heartbeat")
        self.check("main: last-heartbeat -> ok", res.get("ok") is True, short(res))
        res = self.call(main, "logs.tail", {"limit": 5})
        p = res.get("payload") or {}
        self.check("main: logs.tail {limit:5} -> ok, <=5 lines", res.get("ok") is True and isinstance(p.get("lines"), list) and len(p["lines"]) <= 5, short(res))
        res = self.call(main, "config.get")
        self.check("main: config.get -> ok", res.get("ok") is True, short(res))
        self.check("main: config.get does not leak the token", a.token not in json.dumps(res))
        res = self.call(main, "config.schema")
        self.check("main: config.schema -> ok, has schema", res.get("ok") is True and "schema" in (res.get("payload") or {}), short(res))
        res = self.call(main, "no.such.method")
        err = self.expect_error("main: unknown method (admin) -> INVALID_REQUEST", res, "INVALID_REQUEST")
        self.check("main: unknown method message names it", "no.such.method" in (err.get("message") or ""), err.get("message", ""))

        print("session: connection with scopes [] (presence event expected on main)", flush=True)
        mark = len(main.seen)
        noscope, _ = self.connect("noscope", [])
        res = self.call(noscope, "health", omit_params=True)
        self.expect_error(
            "noscope: health -> FORBIDDEN MISSING_SCOPE operator.read",
            res,
            "FORBIDDEN",
            "MISSING_SCOPE",
            {"missingScope": "operator.read"},
        )
        try:
            main.wait_for(lambda f: f.get("type") == "event" and f.get("event") == "presence", 3)
            got_presence = True
        except TimeoutError:
            got_presence = any(f.get("event") == "presence" for f in main.seen[mark:])
        self.check("main: presence event broadcast after another client connected", got_presence)

        print("session: read-only connection", flush=True)
        ro, _ = self.connect("readonly", ["operator.read"])
        res = self.call(ro, "health", omit_params=True)
        self.check("readonly: health -> ok", res.get("ok") is True, short(res))
        res = self.call(ro, "no.such.method")
        self.expect_error(
            "readonly: unknown method -> FORBIDDEN missing operator.admin (upstream checks scope first)",
            res,
            "FORBIDDEN",
            "MISSING_SCOPE",
            {"missingScope": "operator.admin"},
        )

        print("session: malformed request after handshake", flush=True)
        bad, _ = self.connect("malformed", ADMIN_SCOPES)
        bad.send({"type": "req", "id": "bad-1", "method": "health", "params": {}, "bogus": 1}, malformed=True)
        try:
            res = bad.wait_for(lambda f: f.get("type") == "res" and f.get("id") == "bad-1", 5)
            self.expect_error("malformed: req with extra key -> error res INVALID_REQUEST for its id", res, "INVALID_REQUEST")
        except Closed as c:
            self.check("malformed: req with extra key -> error res INVALID_REQUEST for its id", False, f"closed {c.code} {c.reason!r} without res")
        try:
            res = self.call(bad, "health", omit_params=True)
            print(f"  [info] malformed: connection still usable after the bad frame (health ok={res.get('ok')})")
        except (Closed, TimeoutError) as e:
            print(f"  [info] malformed: connection not usable after the bad frame: {e}")
        bad.close()

        print(f"session: ticks (tickIntervalMs={a.tick_ms})", flush=True)
        deadline = time.monotonic() + max(3.0, a.tick_ms * 4 / 1000)
        while sum(1 for f in main.seen if f.get("event") == "tick") < 2 and time.monotonic() < deadline:
            try:
                main.wait_for(lambda f: False, min(0.5, max(0.05, deadline - time.monotonic())))
            except TimeoutError:
                pass
        ticks = [f for f in main.seen if f.get("event") == "tick"]
        self.check("main: >= 2 tick events", len(ticks) >= 2, f"{len(ticks)} ticks")

        print("session: wrong token", flush=True)
        ws = self.open("wrongtoken")
        self.challenge(ws)
        rid = self.nid()
        ws.send({"type": "req", "id": rid, "method": "connect", "params": self.connect_params(ADMIN_SCOPES, token="wrong-" + a.token)})
        try:
            res = ws.wait_for(lambda f: f.get("type") == "res" and f.get("id") == rid, 5)
            err = self.expect_error("wrongtoken: INVALID_REQUEST details.code AUTH_TOKEN_MISMATCH", res, "INVALID_REQUEST", "AUTH_TOKEN_MISMATCH")
            self.check("wrongtoken: message mentions token mismatch", "token mismatch" in (err.get("message") or ""), err.get("message", ""))
        except Closed as c:
            self.check("wrongtoken: INVALID_REQUEST details.code AUTH_TOKEN_MISMATCH", False, f"closed first: {c}")
        code, reason = ws.wait_close(5)
        self.check("wrongtoken: close 1008", code == 1008, f"code={code} reason={reason!r}")
        ws.close()

        print("session: protocol mismatch", flush=True)
        ws = self.open("protomismatch")
        self.challenge(ws)
        rid = self.nid()
        ws.send({"type": "req", "id": rid, "method": "connect", "params": self.connect_params(ADMIN_SCOPES, min_p=2, max_p=3)})
        try:
            res = ws.wait_for(lambda f: f.get("type") == "res" and f.get("id") == rid, 5)
            self.expect_error(
                "protomismatch: INVALID_REQUEST PROTOCOL_MISMATCH {2,3,expected 4}",
                res,
                "INVALID_REQUEST",
                "PROTOCOL_MISMATCH",
                {"clientMinProtocol": 2, "clientMaxProtocol": 3, "expectedProtocol": 4},
            )
        except Closed as c:
            self.check("protomismatch: INVALID_REQUEST PROTOCOL_MISMATCH", False, f"closed first: {c}")
        code, reason = ws.wait_close(5)
        self.check("protomismatch: close 1002", code == 1002, f"code={code} reason={reason!r}")
        ws.close()

        print("session: first frame is not connect", flush=True)
        ws = self.open("notconnect")
        self.challenge(ws)
        rid = self.nid()
        ws.send({"type": "req", "id": rid, "method": "health"})
        try:
            res = ws.wait_for(lambda f: f.get("type") == "res" and f.get("id") == rid, 5)
            self.expect_error("notconnect: health before connect -> INVALID_REQUEST", res, "INVALID_REQUEST")
        except Closed as c:
            self.check("notconnect: health before connect -> INVALID_REQUEST", False, f"closed first: {c}")
        code, reason = ws.wait_close(5)
        self.check("notconnect: close 1008", code == 1008, f"code={code} reason={reason!r}")
        ws.close()

        # event seq on main: broadcast events carry seq increasing by exactly 1
        seqs = [f["seq"] for f in main.seen if f.get("type") == "event" and "seq" in f]
        gaps = [(x, y) for x, y in zip(seqs, seqs[1:]) if y != x + 1]
        self.check("main: event seq contiguous (+1) per connection", seqs and not gaps, f"seqs={seqs[:12]}{'...' if len(seqs) > 12 else ''} gaps={gaps[:3]}")

        print("session: SIGTERM the server -> shutdown event + close 1012", flush=True)
        os.kill(a.server_pid, signal.SIGTERM)
        for ws, required in ((main, True), (noscope, False), (ro, False)):
            try:
                f = ws.wait_for(lambda f: f.get("type") == "event" and f.get("event") == "shutdown", 5)
                got = True
                detail = short(f)
            except Closed as c:
                got = any(f.get("event") == "shutdown" for f in ws.seen)
                detail = f"closed {c.code} before a shutdown event"
            except TimeoutError:
                got, detail = False, "timeout"
            code, reason = ws.wait_close(5)
            if required:
                self.check(f"{ws.label}: shutdown event {{reason}} received", got, detail)
                self.check(f"{ws.label}: close 1012 after shutdown", code == 1012, f"code={code} reason={reason!r}")
            else:
                print(f"  [info] {ws.label}: shutdown event={got} close={code} {reason!r}")
            ws.close()

    def finish(self):
        failed = [r for r in self.results if not r[1]]
        print(f"session: {len(self.results) - len(failed)}/{len(self.results)} checks passed", flush=True)
        return 1 if failed else 0


def jget(body, key):
    try:
        return json.loads(body).get(key)
    except (ValueError, AttributeError):
        return None


def short(obj, n=160):
    s = json.dumps(obj, ensure_ascii=False) if not isinstance(obj, str) else obj
    return s if len(s) <= n else s[: n - 3] + "..."


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--tick-ms", type=int, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    s = Session(args)
    try:
        s.run()
    except (Closed, TimeoutError, ConnectionError, OSError) as e:
        s.check("session ran to the end", False, f"{type(e).__name__}: {e}")
    return s.finish()


if __name__ == "__main__":
    sys.exit(main())
