#!/usr/bin/env python3
"""Minimal OpenClaw gateway protocol probe: stdlib only (no pip packages), loopback only.

usage: wsclient.py --port PORT (--token TOKEN | --token-file FILE) [--host 127.0.0.1]
                   [--timeout SECONDS] [--no-healthz]

Steps, each bounded by the overall --timeout deadline:
  1. HTTP GET /healthz must answer 200 with {"ok":true,...}          (skip with --no-healthz)
  2. WebSocket upgrade (RFC 6455; Sec-WebSocket-Accept is verified)
  3. wait for the connect.challenge event (payload.nonce non-empty)
  4. send the connect request (protocol 4, token auth) -> res ok, payload.type == "hello-ok",
     payload.protocol == 4
  5. send a health request -> res ok, payload.ok == true
  6. close 1000
Frames that are not the awaited res (tick/presence events etc.) are skipped; pings are answered.
Exit status 0 on success, 1 on any failure (the reason goes to stderr).
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOL = 4


class ProbeError(Exception):
    pass


class WebSocket:
    """Client side of RFC 6455: masked frames out, unmasked frames in, fragmentation, ping/pong."""

    def __init__(self, host, port, deadline, path="/"):
        self.deadline = deadline
        self.sock = socket.create_connection((host, port), timeout=self._left())
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        req = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(req.encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if len(lines[0].split()) < 2 or lines[0].split()[1] != "101":
            raise ProbeError(f"upgrade refused: {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != want:
            raise ProbeError("bad Sec-WebSocket-Accept in the upgrade response")

    def _left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ProbeError("timed out")
        return left

    def _fill(self):
        self.sock.settimeout(self._left())
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise ProbeError("timed out waiting for data") from None
        if not chunk:
            raise ProbeError("connection closed by the server")
        self.buf += chunk

    def _need(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode, payload):
        n = len(payload)
        hdr = bytes([0x80 | opcode])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.sock.settimeout(self._left())
        self.sock.sendall(hdr + mask + masked)

    def send_json(self, obj):
        self._send_frame(0x1, json.dumps(obj, separators=(",", ":")).encode())

    def _read_frame(self):
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._need(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._need(8))[0]
        mask = self._need(4) if b1 & 0x80 else None
        payload = self._need(n)
        if mask:
            payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv_message(self):
        """Returns the next text/binary message (reassembled); answers pings."""
        parts, first_op = [], None
        while True:
            fin, op, payload = self._read_frame()
            if op == 0x9:  # ping
                self._send_frame(0xA, payload)
                continue
            if op == 0xA:  # pong
                continue
            if op == 0x8:  # close
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                reason = payload[2:].decode(errors="replace")
                raise ProbeError(f"server closed the connection (code {code}, {reason!r})")
            if op in (0x1, 0x2):
                first_op, parts = op, [payload]
            elif op == 0x0 and first_op is not None:
                parts.append(payload)
            else:
                raise ProbeError(f"unexpected frame opcode {op}")
            if fin:
                return b"".join(parts)

    def recv_json(self):
        while True:
            raw = self.recv_message()
            try:
                return json.loads(raw)
            except ValueError:
                continue  # the reference client ignores frames that do not parse

    def close(self):
        try:
            self._send_frame(0x8, struct.pack(">H", 1000))
        except (OSError, ProbeError):
            pass
        self.sock.close()


def healthz(host, port, deadline):
    s = socket.create_connection((host, port), timeout=max(0.1, deadline - time.monotonic()))
    s.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        if time.monotonic() > deadline:
            raise ProbeError("timed out reading /healthz")
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            m = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")]
            if m and len(body) >= int(m[0].split(b":", 1)[1]):
                break
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    if " 200 " not in status + " ":
        raise ProbeError(f"/healthz: {status!r}")
    doc = json.loads(body)
    if doc.get("ok") is not True:
        raise ProbeError(f"/healthz body: {body[:200]!r}")
    return body.decode(errors="replace")


def wait_res(ws, req_id):
    while True:
        msg = ws.recv_json()
        if isinstance(msg, dict) and msg.get("type") == "res" and msg.get("id") == req_id:
            return msg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token")
    ap.add_argument("--token-file")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--no-healthz", action="store_true")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "::1", "localhost"):
        ap.error("loopback only")
    token = a.token
    if token is None and a.token_file:
        with open(a.token_file) as f:
            token = f.read().strip()
    if not token:
        ap.error("--token or --token-file is required")

    deadline = time.monotonic() + a.timeout
    t0 = time.monotonic()
    say = lambda s: print(f"wsclient: {s}", flush=True)  # noqa: E731
    try:
        if not a.no_healthz:
            say(f"GET /healthz -> {healthz(a.host, a.port, deadline)}")
        ws = WebSocket(a.host, a.port, deadline)
        say("upgrade ok (101, accept key verified)")

        msg = ws.recv_json()
        while not (isinstance(msg, dict) and msg.get("type") == "event"
                   and msg.get("event") == "connect.challenge"):
            msg = ws.recv_json()
        nonce = (msg.get("payload") or {}).get("nonce")
        if not isinstance(nonce, str) or not nonce.strip():
            raise ProbeError(f"connect.challenge without a nonce: {msg}")
        say(f"connect.challenge nonce={nonce[:12]}...")

        ws.send_json({
            "type": "req", "id": "1", "method": "connect",
            "params": {
                "minProtocol": PROTOCOL, "maxProtocol": PROTOCOL,
                "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
                "role": "operator", "scopes": ["operator.read"],
                "auth": {"token": token},
            },
        })
        res = wait_res(ws, "1")
        payload = res.get("payload") or {}
        if res.get("ok") is not True or payload.get("type") != "hello-ok":
            raise ProbeError(f"connect failed: {json.dumps(res)[:400]}")
        if payload.get("protocol") != PROTOCOL:
            raise ProbeError(f"hello-ok protocol {payload.get('protocol')!r} != {PROTOCOL}")
        server = payload.get("server") or {}
        say(f"hello-ok protocol={payload.get('protocol')} server={json.dumps(server)[:120]}")

        ws.send_json({"type": "req", "id": "2", "method": "health"})
        res = wait_res(ws, "2")
        if res.get("ok") is not True or (res.get("payload") or {}).get("ok") is not True:
            raise ProbeError(f"health failed: {json.dumps(res)[:400]}")
        say(f"health ok: {json.dumps(res['payload'])[:160]}")
        ws.close()
    except (ProbeError, OSError, ValueError) as e:
        print(f"wsclient: FAIL: {e}", file=sys.stderr, flush=True)
        return 1
    say(f"protocol round trip ok in {time.monotonic() - t0:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
