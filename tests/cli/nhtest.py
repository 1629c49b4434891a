"""nhtest.py - a checked naohai.v1 client for the CLI tests

Every message sent or received goes through proto_check.check(), so a
test that uses this client also tests the schemas of schemas/protocol.
Responses are matched to requests by id; events that arrive meanwhile
are kept in order until the test asks for them.

    c = await nhtest.Client.open(url, token)
    res = await c.ok("dataset.list")             # result, or AssertionError
    err = await c.fail("job.get", {"job": 99})   # error object
    ev = await c.event(lambda e: e["event"] == "job.state", timeout=60)
    nhtest.run(main())   # asyncio.run, closing every client at the end

Close clients (or use run()): an open websockets connection makes the
interpreter wait about ten seconds at exit.
"""
import asyncio
import json
import os
import sys

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proto_check  # noqa: E402


_open = []


def run(coro):
    """asyncio.run(coro), then close every client it opened."""
    async def wrapper():
        try:
            return await coro
        finally:
            for c in _open:
                await c.ws.close()
    return asyncio.run(wrapper())


class Client:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.ops = {}
        self.events = []
        self.seen = []  # every event ever received, in order

    @classmethod
    async def open(cls, url, token=None):
        ws = await websockets.connect(url, subprotocols=["naohai.v1"],
                                      max_size=None, compression=None)
        c = cls(ws)
        _open.append(c)
        if token:
            await c.ok("auth", {"token": token})
        return c

    async def close(self):
        await self.ws.close()

    async def _recv(self, timeout):
        msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if "event" in msg:
            proto_check.check("event", msg)
            self.events.append(msg)
            self.seen.append(msg)
            return None
        op = self.ops.pop(msg["id"], None)
        proto_check.check("response", msg, op)
        return msg

    async def call(self, op, args=None, timeout=60, valid=True):
        """Send a request and return its response. valid=False sends a
        request that must fail the schema check (a malformed one)."""
        self.next_id += 1
        req = {"id": self.next_id, "op": op}
        if args is not None:
            req["args"] = args
        assert proto_check.is_valid("request", req) == valid, req
        self.ops[self.next_id] = op
        await self.ws.send(json.dumps(req))
        while True:
            msg = await self._recv(timeout)
            if msg is not None and msg["id"] == req["id"]:
                return msg

    async def ok(self, op, args=None, timeout=60):
        msg = await self.call(op, args, timeout)
        assert msg["ok"] is True, (op, args, msg)
        return msg["result"]

    async def fail(self, op, args=None, code=None, valid=True, timeout=60):
        msg = await self.call(op, args, timeout, valid=valid)
        assert msg["ok"] is False, (op, args, msg)
        if code is not None:
            assert msg["error"]["code"] == code, (op, args, msg)
        return msg["error"]

    async def event(self, pred, timeout=60):
        """The first queued or arriving event with pred(event) true;
        events before it are dropped."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            while self.events:
                e = self.events.pop(0)
                if pred(e):
                    return e
            left = end - loop.time()
            if left <= 0:
                raise AssertionError("no matching event in %s s" % timeout)
            await self._recv(left)


def job_done(job_id, states=("succeeded", "failed", "cancelled",
                              "interrupted")):
    """An event predicate: job job_id reached one of states."""
    return lambda e: (e["event"] == "job.state" and
                      e["data"]["job"] == job_id and
                      e["data"]["state"] in states)
