#!/usr/bin/env python3
"""Validate a recorded gateway session against upstream's protocol.schema.json.

Used by scripts/conformance.sh; needs the `jsonschema` package (run it from the
temporary venv the script creates). Input is the JSON-lines recording written by
conformance_session.py.

Server frames (dir "in") are checked strictly:
  - every envelope against the schema root (oneOf Request/Response/Event) and the
    definition for its `type` (RequestFrame / ResponseFrame / EventFrame);
  - every `error` against ErrorShape, and MISSING_SCOPE details against
    MissingScopeErrorDetails;
  - results by the method of the request they answer: connect -> HelloOk (and its
    snapshot.health separately), health -> the Snapshot health shape, system-presence
    -> PresenceEntry[], logs.tail -> LogsTailResult, config.schema -> ConfigSchemaResponse;
  - events: tick -> TickEvent, shutdown -> ShutdownEvent, presence -> {presence:
    PresenceEntry[]} with a stateVersion on the frame, connect.challenge -> {nonce, ts}.
Client frames (dir "out", except those marked malformed) are checked too, against
RequestFrame and the method's *Params definition, so a broken client cannot hide a
broken server.

Prints a count per frame kind and every violation; exit 1 on any violation.
"""

import argparse
import collections
import json
import sys

from jsonschema import Draft7Validator

HEALTH_REF = "#/definitions/HelloOk/properties/snapshot/properties/health"
RESULT_DEFS = {
    "connect": "#/definitions/HelloOk",
    "health": HEALTH_REF,
    "logs.tail": "#/definitions/LogsTailResult",
    "config.schema": "#/definitions/ConfigSchemaResponse",
}
PARAMS_DEFS = {
    "connect": "ConnectParams",
    "logs.tail": "LogsTailParams",
    "config.get": "ConfigGetParams",
    "config.schema": "ConfigSchemaParams",
}


class Checker:
    def __init__(self, schema):
        self.defs = schema["definitions"]
        self.root = {k: v for k, v in schema.items() if k in ("oneOf", "definitions")}
        self.cache = {}
        self.counts = collections.Counter()  # schema validations per kind
        self.frames = collections.Counter()  # frames seen per kind
        self.violations = []

    def validator(self, ref):
        if ref not in self.cache:
            if ref == "#":
                sch = self.root
            else:
                if ref.startswith("#/definitions/") and ref.count("/") == 2:
                    name = ref.rsplit("/", 1)[1]
                    if name not in self.defs:
                        raise KeyError(f"schema has no definition {name}")
                sch = {"$ref": ref, "definitions": self.defs}
            self.cache[ref] = Draft7Validator(sch)
        return self.cache[ref]

    def check(self, kind, ref, instance, where):
        self.counts[kind] += 1
        errs = sorted(self.validator(ref).iter_errors(instance), key=lambda e: list(e.absolute_path))
        for e in errs[:8]:
            path = "/".join(str(p) for p in e.absolute_path) or "<root>"
            msg = e.message if len(e.message) < 300 else e.message[:297] + "..."
            self.violations.append(f"{where}: {kind} vs {ref.rsplit('/', 1)[-1] if ref != '#' else 'root oneOf'}: at {path}: {msg}")
        if len(errs) > 8:
            self.violations.append(f"{where}: {kind}: ... {len(errs) - 8} more errors")
        return not errs

    def fail(self, where, msg):
        self.violations.append(f"{where}: {msg}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schema", required=True)
    ap.add_argument("--frames", required=True)
    args = ap.parse_args()

    with open(args.schema, encoding="utf-8") as fh:
        schema = json.load(fh)
    c = Checker(schema)
    recs = [json.loads(line) for line in open(args.frames, encoding="utf-8") if line.strip()]
    if not recs:
        print("validate: no frames recorded")
        return 1

    methods = {}  # (conn, id) -> method, from the client's requests
    n_in = 0
    for i, r in enumerate(recs, 1):
        conn, direction = r["conn"], r["dir"]
        where = f"#{i} {conn}/{direction}"
        if "close" in r:
            c.frames[f"close {r['close'].get('code')} ({direction})"] += 1
            continue
        if "raw" in r:
            c.frames["unparsable/binary (in)"] += 1
            c.fail(where, f"server sent a non-JSON or binary frame: {r['raw'][:120]!r}")
            continue
        f = r["frame"]

        if direction == "out":
            if r.get("malformed"):
                c.frames["client req (deliberately malformed, not validated)"] += 1
                continue
            m = f.get("method")
            if isinstance(m, str) and m:
                methods[(conn, f.get("id"))] = m
            c.check("client req envelope", "#/definitions/RequestFrame", f, where)
            if m in PARAMS_DEFS and "params" in f:
                c.check(f"client {m} params", f"#/definitions/{PARAMS_DEFS[m]}", f["params"], where)
            continue

        n_in += 1
        # 1. envelope: schema root (oneOf) and the definition for the frame type
        c.check("envelope (root oneOf)", "#", f, where)
        t = f.get("type") if isinstance(f, dict) else None
        if t == "res":
            c.check("res envelope", "#/definitions/ResponseFrame", f, where)
            m = methods.get((conn, f.get("id")))
            if m is None:
                # e.g. the error reply to a deliberately malformed frame
                m = "<malformed req>"
            if f.get("ok") is True:
                if "error" in f:
                    c.fail(where, "ok:true response carries an error")
                c.frames[f"res ok: {m}"] += 1
                p = f.get("payload")
                ref = RESULT_DEFS.get(m)
                if ref:
                    c.check(f"{m} result", ref, p, where)
                if m == "connect" and isinstance(p, dict) and isinstance(p.get("snapshot"), dict):
                    c.check("hello-ok snapshot.health", HEALTH_REF, p["snapshot"].get("health"), where)
                    for e in p["snapshot"].get("presence") or []:
                        c.check("hello-ok snapshot.presence[]", "#/definitions/PresenceEntry", e, where)
                if m == "system-presence":
                    if not isinstance(p, list):
                        c.fail(where, f"system-presence payload is not an array: {type(p).__name__}")
                    else:
                        for e in p:
                            c.check("system-presence entry", "#/definitions/PresenceEntry", e, where)
            elif f.get("ok") is False:
                c.frames[f"res error: {m}"] += 1
                err = f.get("error")
                if err is None:
                    c.fail(where, "ok:false response without error")
                else:
                    c.check("error object", "#/definitions/ErrorShape", err, where)
                    det = err.get("details") if isinstance(err, dict) else None
                    if isinstance(det, dict) and det.get("code") == "MISSING_SCOPE":
                        c.check("MISSING_SCOPE details", "#/definitions/MissingScopeErrorDetails", det, where)
        elif t == "event":
            c.check("event envelope", "#/definitions/EventFrame", f, where)
            ev = f.get("event")
            c.frames[f"event: {ev}"] += 1
            p = f.get("payload")
            if ev == "tick":
                c.check("tick payload", "#/definitions/TickEvent", p, where)
            elif ev == "shutdown":
                c.check("shutdown payload", "#/definitions/ShutdownEvent", p, where)
            elif ev == "presence":
                if not isinstance(p, dict) or not isinstance(p.get("presence"), list):
                    c.fail(where, "presence payload is not {presence: [...]}")
                else:
                    extra = set(p) - {"presence"}
                    if extra:
                        c.fail(where, f"presence payload has extra keys {sorted(extra)}")
                    for e in p["presence"]:
                        c.check("presence entry", "#/definitions/PresenceEntry", e, where)
                if "stateVersion" not in f:
                    c.fail(where, "presence event without stateVersion")
            elif ev == "health":
                c.check("health event payload", HEALTH_REF, p, where)
            elif ev == "connect.challenge":
                ok = isinstance(p, dict) and isinstance(p.get("nonce"), str) and p["nonce"].strip() and isinstance(p.get("ts"), int)
                if not ok:
                    c.fail(where, f"connect.challenge payload lacks nonce/ts: {p!r}")
                if "seq" in f:
                    c.fail(where, "connect.challenge carries a seq (upstream sends none)")
        elif t == "req":
            c.check("req envelope (server->client)", "#/definitions/RequestFrame", f, where)
        else:
            c.fail(where, f"frame has no valid type: {json.dumps(f)[:120]}")

    width = max(len(k) for k in list(c.counts) + list(c.frames))
    print(f"validate: {len(recs)} records, {n_in} JSON frames from the server; frames per kind:")
    for k in sorted(c.frames):
        print(f"  {k:<{width}}  {c.frames[k]}")
    print(f"validate: {sum(c.counts.values())} schema validations per kind:")
    for k in sorted(c.counts):
        print(f"  {k:<{width}}  {c.counts[k]}")
    if c.violations:
        print(f"validate: {len(c.violations)} VIOLATION(S):")
        for v in c.violations:
            print(f"  - {v}")
        return 1
    print("validate: no schema violations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
