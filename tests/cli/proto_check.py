"""proto_check.py - validate naohai.v1 traffic against schemas/protocol

The CLI tests that talk to nhd import this module and pass every message
they send or receive through check(): the envelope
(schemas/protocol/envelope.schema.json) always, and, when the op is
known and has a schema file op-NAME.schema.json, the op's "args" (for a
request) or "result" (for an ok response) from that file's $defs. The
$id values are https://naohai.dev/schemas/protocol/NAME; they resolve
from a local store built from the files, never from the network.

Standard library and python3-jsonschema only (Debian 12 ships 4.10,
before the 'referencing' package, so RefResolver is used).

    import proto_check
    proto_check.check("request", {"id": 1, "op": "ping"})
    proto_check.check("response", reply, op="ping")
    proto_check.is_valid("response", reply, op="ping")  # -> bool

Run as a script, it checks sample messages of every op (a self-test).
"""
import glob
import json
import os
import sys
import warnings

import jsonschema

BASE = "https://naohai.dev/schemas/protocol/"
ENVELOPE = BASE + "envelope.schema.json"
DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "schemas", "protocol")
Validator = jsonschema.Draft202012Validator


def _load():
    store, ops, events = {}, {}, {}
    for path in sorted(glob.glob(os.path.join(DIR, "*.schema.json"))):
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
        Validator.check_schema(schema)
        name = os.path.basename(path)
        if schema.get("$id") != BASE + name:
            raise ValueError("%s: $id is not %s" % (path, BASE + name))
        store[schema["$id"]] = schema
        if name.startswith("op-"):
            ops[name[len("op-"):-len(".schema.json")]] = schema
        if name.startswith("event-"):
            events[name[len("event-"):-len(".schema.json")]] = schema
    if ENVELOPE not in store:
        raise ValueError("no envelope.schema.json in %s" % DIR)
    return store, ops, events


STORE, OPS, EVENTS = _load()
_cache = {}


def _validator(ref):
    """A validator for the schema at URI ref (file#/$defs/x), cached."""
    v = _cache.get(ref)
    if v is None:
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                  "$ref": ref}
        with warnings.catch_warnings():
            # RefResolver is deprecated from jsonschema 4.18 on, still works
            warnings.simplefilter("ignore", DeprecationWarning)
            resolver = jsonschema.RefResolver(BASE, schema, store=STORE)
        v = _cache[ref] = Validator(schema, resolver=resolver)
    return v


def _validate(ref, inst, what):
    err = jsonschema.exceptions.best_match(_validator(ref).iter_errors(inst))
    if err is not None:
        raise jsonschema.ValidationError(
            "%s: %s at %s (message %s)"
            % (what, err.message, "/".join(map(str, err.absolute_path)) or
               "top", json.dumps(inst)[:300]))


def check(direction, msg, op=None):
    """Raise jsonschema.ValidationError unless msg (a dict, or JSON text)
    is a valid "request", "response" or "event". For a request the op is
    msg["op"] unless given; for a response pass the op of the request
    it answers (None: envelope only). An op without a schema file is
    checked against the envelope only."""
    if isinstance(msg, (str, bytes)):
        msg = json.loads(msg)
    if direction not in ("request", "response", "event"):
        raise ValueError("direction %r" % direction)
    _validate(ENVELOPE + "#/$defs/" + direction, msg, direction)
    if direction == "event":
        if msg["event"] not in EVENTS:
            raise jsonschema.ValidationError("no schema for event %r"
                                             % msg["event"])
        _validate(BASE + "event-%s.schema.json#/$defs/data" % msg["event"],
                  msg["data"], msg["event"] + " data")
        return
    if direction == "request" and op is None:
        op = msg["op"]
    if op is None or op not in OPS:
        return
    base = BASE + "op-%s.schema.json#/$defs/" % op
    if direction == "request":
        _validate(base + "args", msg.get("args", {}), op + " args")
    elif direction == "response" and msg["ok"] is True:
        _validate(base + "result", msg["result"], op + " result")


def is_valid(direction, msg, op=None):
    try:
        check(direction, msg, op)
    except jsonschema.ValidationError:
        return False
    return True


def _selftest():
    h32, h64 = "0123456789abcdef" * 2, "0123456789abcdef" * 4
    good = [
        ("request", {"id": 1, "op": "auth", "args": {"token": h64}}, None),
        ("request", {"id": 2, "op": "ping"}, None),
        ("request", {"id": 3, "op": "dataset.import",
                     "args": {"name": "web", "paths": ["/a.jsonl"]}}, None),
        ("request", {"id": 4, "op": "dataset.versions",
                     "args": {"name": "web"}}, None),
        ("request", {"id": 5, "op": "user.add",
                     "args": {"name": "li", "role": "reviewer"}}, None),
        ("request", {"id": 6, "op": "future.op", "args": {"x": 1}}, None),
        ("response", {"id": 1, "ok": True,
                      "result": {"user": "admin", "role": "admin"}}, "auth"),
        ("response", {"id": 2, "ok": True, "result": {"pong": True}}, "ping"),
        ("response", {"id": 3, "ok": True,
                      "result": {"dataset": "web", "version": h32, "docs": 5,
                                 "bytes": 900, "shards": 1}},
         "dataset.import"),
        ("response", {"id": 7, "ok": True, "result": {"datasets": [
            {"name": "web", "versions": 1, "latest": h32, "docs": 5,
             "bytes": 900},
            {"name": "new", "versions": 0, "latest": None, "docs": 0,
             "bytes": 0}]}}, "dataset.list"),
        ("response", {"id": 4, "ok": True, "result": {"versions": [
            {"id": h32, "parent": None, "docs": 5, "bytes": 900,
             "created": 1700000000, "job": None, "tags": ["prod"]}]}},
         "dataset.versions"),
        ("request", {"id": 10, "op": "dataset.import",
                     "args": {"name": "web", "uploads": [h32]}}, None),
        ("request", {"id": 11, "op": "dataset.read",
                     "args": {"ref": "web@prod", "shard": 0, "offset": 0}},
         None),
        ("response", {"id": 11, "ok": True, "result": {
            "version": h32, "shard": 0, "shards": 1, "offset": 0, "next": 3,
            "eof": True, "data": "{}\n"}}, "dataset.read"),
        ("response", {"id": 5, "ok": True, "result": {
            "name": "li", "role": "reviewer", "token": h64}}, "user.add"),
        ("response", {"id": 8, "ok": True, "result": {"name": "li"}},
         "user.revoke"),
        ("response", {"id": None, "ok": False, "error": {
            "code": "bad_request", "message": "x"}}, None),
        ("response", {"id": 9, "ok": False, "error": {
            "code": "not_found", "message": "x"}}, "dataset.versions"),
        ("event", {"event": "job.log", "topic": "job/1",
                   "data": {"job": 1, "seq": 0, "line": "x"}}, None),
    ]
    bad = [
        ("request", {"id": 1}, None),
        ("request", {"id": 1.5, "op": "ping"}, None),
        ("request", {"id": 1, "op": ""}, None),
        ("request", {"id": 1, "op": "x", "args": []}, None),
        ("request", {"id": 1, "op": "ping", "pad": "x"}, None),
        ("request", {"id": 1, "op": "auth", "args": {}}, None),
        ("request", {"id": 1, "op": "auth", "args": {"token": "abc"}}, None),
        ("request", {"id": 1, "op": "dataset.import",
                     "args": {"name": "web", "paths": "/a"}}, None),
        ("request", {"id": 1, "op": "user.add",
                     "args": {"name": "li", "role": "root"}}, None),
        ("response", {"id": 1, "ok": True}, None),
        ("response", {"id": 1, "ok": True, "result": {}, "error": {}}, None),
        ("response", {"id": "1", "ok": True, "result": {}}, None),
        ("response", {"id": 1, "ok": False, "error": {
            "code": "oops", "message": "x"}}, None),
        ("response", {"id": 1, "ok": True, "result": {"pong": 1}}, "ping"),
        ("response", {"id": 1, "ok": True,
                      "result": {"user": "a", "role": "boss"}}, "auth"),
        ("response", {"id": 1, "ok": True, "result": {"datasets": [
            {"name": "w", "versions": 1, "latest": "XYZ", "docs": 0,
             "bytes": 0}]}}, "dataset.list"),
        ("response", {"id": 1, "ok": True, "result": {"versions": [
            {"id": h32, "docs": 1, "bytes": 1, "created": 0}]}},
         "dataset.versions"),
        ("response", {"id": 1, "ok": True, "result": {
            "name": "li", "role": "reviewer"}}, "user.add"),
        ("event", {"event": "job.progress", "topic": "job/1"}, None),
        ("request", {"id": 1, "op": "dataset.import",
                     "args": {"name": "web", "paths": ["/a"],
                              "uploads": [h32]}}, None),
        ("request", {"id": 1, "op": "dataset.tag",
                     "args": {"ref": "web", "tag": "a b"}}, None),
        ("request", {"id": 1, "op": "upload.chunk",
                     "args": {"upload": h32, "offset": 0, "data": "a b"}},
         None),
        ("event", {"event": "job.progress", "topic": "job/1",
                   "data": {"docs": 3}}, None),
        ("event", {"event": "no.such", "topic": "job/1", "data": {}}, None),
    ]
    for d, m, op in good:
        check(d, m, op)
    for d, m, op in bad:
        if is_valid(d, m, op):
            raise AssertionError("accepted bad %s %s" % (d, json.dumps(m)))
    missing = {"auth", "ping", "dataset.list", "dataset.versions",
               "dataset.import", "dataset.show", "dataset.lineage",
               "dataset.diff", "dataset.tag", "dataset.read", "upload.begin",
               "upload.chunk", "upload.finish", "user.add",
               "user.revoke"} - set(OPS)
    if missing:
        raise AssertionError("no schema for %s" % sorted(missing))
    print("proto_check: %d schemas, %d good and %d bad samples ok"
          % (len(STORE), len(good), len(bad)))


if __name__ == "__main__":
    _selftest()
    sys.exit(0)
