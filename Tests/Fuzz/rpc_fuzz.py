#!/usr/bin/env python3
"""Fuzzes every backend's request/reply endpoint (CONTRACT §5) with hostile frames.

For each of queue, concert, payment and reservation it sends random bytes; truncated prefixes of
valid envelopes; JSON that is not an envelope; envelopes with wrong types, huge ids, unknown
versions and unknown methods; for every method docs/services.md lists, bodies with missing, random,
wrongly typed and absurd fields; multi-frame messages, empty frames and a frame just over 1 MiB;
through DEALER sockets (with and without the empty delimiter a REQ socket adds) and REQ sockets,
always with a receive timeout.

Every reply must be an envelope: `{"v": 1, "id", "ok": true, "body"}` or `{"v": 1, "id", "ok":
false, "error": {"code", "message"}}`, never the code `internal` (a handler that failed). A frame
that should be answered and is not within the timeout is a hang. At the end every service must
answer `<service>.ping` with the pid it had at the start (it neither crashed nor was restarted).

Bodies never name an object that exists (ids are 0, negative or far beyond anything created), so
the fuzzing changes no seat, wallet or reservation and CONTRACT §4 still holds on the files.

Endpoints come from --queue/--concert/--payment/--reservation or QUEUE_RPC, CONCERT_RPC, ...
Exit 0 when every check held, 1 otherwise; the last lines are counts per service.
"""

import argparse
import json
import os
import random
import sys
import time
from collections import Counter

import zmq

MAX_FRAME = 1 << 20
SERVICES = ["queue", "concert", "payment", "reservation"]

# Ids that name nothing: far above any row a test creates, yet valid Int64s, so a body that is
# otherwise right reaches the handler's lookups and gets a refusal, never a change. Methods that
# cannot break CONTRACT §4 whatever they are sent (reads, a user's own charges and tokens) act for a
# real user the fuzzer signs up, to reach further in; a debit never does (a payment for a
# reservation that does not exist is money kept for nothing).
NO_USER = 9_000_000_001
NO_SEAT = 9_000_000_002
NO_CONCERT = 9_000_000_003
NO_SCHEDULE = 9_000_000_004
NO_RESERVATION = 9_000_000_005
NO_RESERVATION_KEY = "fuzz-9000000005"

# The methods of docs/services.md "Services, methods and events" with a body of the right shape each.
# `until` and the schedule dates are filled in at run time (they must be in the future).
def methods(now_ms, user):
    def iso(offset_seconds):
        t = time.gmtime(now_ms / 1000 + offset_seconds)
        return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", t)

    return {
        "queue": {
            "queue.ping": {},
            "queue.issue": {"userId": user},
            "queue.status": {"userId": user, "token": "q1.9000000001.1.1.abc.def"},
            "queue.validate": {"userId": user, "token": "q1.9000000001.1.1.abc.def"},
            "queue.expire": {"userId": user, "token": "q1.9000000001.1.1.abc.def", "issuedBefore": iso(0)},
        },
        "concert": {
            "concert.ping": {},
            "concert.listConcerts": {},
            "concert.schedules": {"concertId": NO_CONCERT},
            "concert.seats": {"scheduleId": NO_SCHEDULE},
            "concert.seat": {"seatId": NO_SEAT},
            "concert.hold": {"seatId": NO_SEAT, "reservationId": NO_RESERVATION_KEY, "until": iso(60)},
            "concert.extend": {"seatId": NO_SEAT, "reservationId": NO_RESERVATION_KEY, "until": iso(90)},
            "concert.confirm": {"seatId": NO_SEAT, "reservationId": NO_RESERVATION_KEY},
            "concert.release": {"seatId": NO_SEAT, "reservationId": NO_RESERVATION_KEY},
            "concert.claims": {"after": 0, "limit": 10},
            # A valid one creates a small concert in the far future: harmless to every invariant.
            "concert.createConcert": {
                "title": "fuzz", "description": "",
                "schedules": [{"startsAt": "2990-01-02T00:00:00Z", "reservationStartAt": "2990-01-01T00:00:00Z",
                               "reservationEndAt": "2990-01-01T12:00:00Z", "seatCount": 1, "price": 1}],
                "requestId": "fuzz-create",
            },
        },
        "payment": {
            "payment.ping": {},
            "payment.createUser": {"name": "fuzz"},
            "payment.authenticate": {"apiKey": "ctk_not_a_key"},
            "payment.user": {"userId": user},
            "payment.balance": {"userId": user},
            "payment.charge": {"userId": user, "amount": 1000, "idempotencyKey": "fuzz-charge"},
            "payment.debit": {"userId": NO_USER, "reservationId": NO_RESERVATION_KEY, "amount": 1000},
            "payment.refund": {"reservationId": NO_RESERVATION_KEY},
            "payment.void": {"reservationId": NO_RESERVATION_KEY},
            "payment.transactions": {"userId": user, "limit": 10, "before": 100},
            "payment.payment": {"reservationId": NO_RESERVATION_KEY},
            "payment.payments": {"after": 0, "limit": 10},
        },
        "reservation": {
            "reservation.ping": {},
            "reservation.reserve": {"userId": user, "seatId": NO_SEAT},
            "reservation.get": {"userId": user, "reservationId": NO_RESERVATION},
            "reservation.list": {"userId": user, "limit": 10},
            "reservation.cancel": {"userId": user, "reservationId": NO_RESERVATION},
            "reservation.pay": {"userId": user, "reservationId": NO_RESERVATION, "idempotencyKey": "fuzz-pay"},
            "reservation.events": {"after": 0, "limit": 10},
            "reservation.reconcile": {"repair": False},
        },
    }


def deep_array(depth):
    return "[" * depth + "]" * depth


def deep_object(depth):
    return '{"a":' * depth + "1" + "}" * depth


# Field values no handler should choke on, as raw JSON text (so that 2^63, 1e400 and lone
# surrogates reach the server exactly as written). None of them names an existing object.
ABSURD = [
    "null", "true", "false", "0", "-1", "-0", "1.5", "-1.5", "0.0000001",
    str(2**31), str(2**53), str(2**53 + 1), str(2**63 - 1), str(2**63), str(-2**63), str(-2**63 - 1),
    str(2**64), str(10**30), "1e308", "-1e308", "1e400", "-1e400", "1e-400", "123456789012345678901234567890.5",
    '"NaN"', '"nan"', '"Infinity"', '"-Infinity"', '"0"', '"-1"', '"9223372036854775808"', '""', '" "',
    '"\\u0000"', '"\\ud800"', '"\\udfff\\ud800"', '"' + "x" * 100_000 + '"', '"' + "🎫" * 5000 + '"',
    '"' + "\\n" * 1000 + '"', "[]", "{}", "[1,2,3]", '{"a":1}', '[null]', deep_array(64), deep_object(64),
    deep_array(5000), deep_object(5000),
    '"2026-12-25T19:30:00.000Z"', '"2026-12-25T19:30:00Z"', '"not a date"', '"0000-00-00T00:00:00Z"',
    '"9999-12-31T23:59:59.999Z"', '"-000001-01-01T00:00:00Z"', '"1970-01-01T00:00:00Z"',
    '"2026-02-30T25:61:61Z"', '"+275760-09-13T00:00:00Z"',
]


class Fuzzer:
    def __init__(self, service, endpoint, rng, timeout_ms):
        self.service = service
        self.endpoint = endpoint
        self.rng = rng
        self.timeout_ms = timeout_ms
        self.context = zmq.Context.instance()
        self.sockets = {}
        self.sent = 0
        self.replies = 0
        self.unanswered = 0
        self.codes = Counter()
        self.by_transport = Counter()
        self.failures = []
        self.counter = 0

    # MARK: sockets

    def socket(self, kind):
        socket = self.sockets.get(kind)
        if socket is None:
            socket = self.context.socket(zmq.REQ if kind == "req" else zmq.DEALER)
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.RCVTIMEO, self.timeout_ms)
            socket.setsockopt(zmq.SNDTIMEO, self.timeout_ms)
            socket.connect(self.endpoint)
            self.sockets[kind] = socket
        return socket

    def reset(self, kind):
        """A REQ socket that got no answer is stuck; a DEALER that did may still get it late."""
        socket = self.sockets.pop(kind, None)
        if socket is not None:
            socket.close(linger=0)

    def close(self):
        for kind in list(self.sockets):
            self.reset(kind)

    def next_id(self):
        self.counter += 1
        return f"fz-{self.service}-{self.counter}"

    # MARK: sending and checking

    def exchange(self, frames, kind, expect_reply=True, expect_id=None, expect_code=None, label=""):
        """Sends `frames` (the message after any routing frames) and checks the answer, if any."""
        self.sent += 1
        self.by_transport[kind] += 1
        socket = self.socket(kind)
        message = list(frames)
        if kind == "dealer-delimited":
            message = [b""] + message
        try:
            socket.send_multipart(message)
        except zmq.Again:
            self.fail(label, "could not send within the timeout")
            self.reset(kind)
            return None
        # What should be dropped is given a moment to prove it was; what should be answered, the timeout.
        wait_ms = self.timeout_ms if expect_reply else 300
        deadline = time.monotonic() + wait_ms / 1000
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not socket.poll(int(remaining * 1000) + 1):
                self.reset(kind)
                if expect_reply:
                    self.fail(label, f"no reply within {wait_ms} ms")
                else:
                    self.unanswered += 1
                return None
            answer = socket.recv_multipart()
            reply = self.check(answer, kind, label)
            if reply is None:
                return None
            # A DEALER may still receive the late answer of an earlier request: skip it. An id of ""
            # is the server's answer to a frame it could not read an id from (JSON nested deeper
            # than its parser goes): that one is ours.
            if expect_id is not None and reply.get("id") not in (expect_id, "") and kind != "req":
                continue
            break
        self.replies += 1
        if not expect_reply:
            return reply
        unread = reply.get("id") == "" and not reply.get("ok") and reply["error"]["code"] == "bad_request"
        if expect_id is not None and reply.get("id") != expect_id and not unread:
            self.fail(label, f"reply id {str(reply.get('id'))[:60]!r} is not the request's {expect_id[:60]!r}")
        code = None if reply.get("ok") else reply["error"]["code"]
        if expect_code is not None and code != expect_code:
            self.fail(label, f"expected {expect_code}, got {code or 'ok'}: {json.dumps(reply)[:300]}")
        return reply

    def check(self, answer, kind, label):
        """The answer's last frame must be an envelope, and not an `internal` error."""
        routing = answer[:-1]
        if kind == "dealer-delimited" and (not routing or routing[0] != b""):
            self.fail(label, f"reply to a delimited request lacks the delimiter: {[f[:20] for f in answer]}")
        frame = answer[-1]
        if len(frame) > MAX_FRAME:
            self.fail(label, f"reply of {len(frame)} bytes is over the 1 MiB frame limit")
        try:
            reply = json.loads(frame)
        except (ValueError, UnicodeDecodeError) as error:
            self.fail(label, f"reply is not JSON ({error}): {frame[:200]!r}")
            return None
        if not isinstance(reply, dict) or reply.get("v") != 1 or not isinstance(reply.get("id"), str) \
                or not isinstance(reply.get("ok"), bool):
            self.fail(label, f"reply is not an envelope: {frame[:300]!r}")
            return None
        if reply["ok"]:
            if "body" not in reply:
                self.fail(label, f"ok reply without a body: {frame[:300]!r}")
            self.codes["ok"] += 1
            return reply
        error = reply.get("error")
        if not isinstance(error, dict) or not isinstance(error.get("code"), str) or not error["code"] \
                or not isinstance(error.get("message"), str):
            self.fail(label, f"error reply without a code and message: {frame[:300]!r}")
            return None
        self.codes[error["code"]] += 1
        if error["code"] == "internal":
            self.fail(label, f"the handler failed (internal): {frame[:300]!r}")
        return reply

    def fail(self, label, what):
        self.failures.append(f"{self.service}: {label}: {what}")
        if os.environ.get("FUZZ_VERBOSE"):
            print(f"FAIL {self.failures[-1]}", file=sys.stderr, flush=True)

    def transport(self):
        return self.rng.choice(["req", "dealer", "dealer-delimited"])

    def envelope(self, method, body_text, request_id=None, v="1"):
        request_id = self.next_id() if request_id is None else request_id
        text = '{"v":%s,"id":%s,"method":%s,"body":%s}' % (v, json.dumps(request_id), json.dumps(method), body_text)
        return request_id, text.encode()

    def call(self, method, body_text, label, expect_code=None):
        request_id, frame = self.envelope(method, body_text)
        return self.exchange([frame], self.transport(), expect_id=request_id, expect_code=expect_code, label=label)

    def ping(self):
        request_id, frame = self.envelope(f"{self.service}.ping", "{}")
        reply = self.exchange([frame], "req", expect_id=request_id, label="ping")
        if reply and reply.get("ok"):
            return reply["body"].get("pid")
        return None

    # MARK: the cases

    def random_bytes(self, count):
        for _ in range(count):
            size = self.rng.choice([1, 2, 7, 64, 512, 4096, self.rng.randrange(1, 70_000)])
            data = self.rng.randbytes(size)
            self.exchange([data], self.transport(), expect_code="bad_request", label=f"random bytes ({size})")
        # Almost JSON: printable noise and JSON punctuation.
        alphabet = b'{}[]",:0123456789.eE+-truefalsnl \\u'
        for _ in range(count):
            data = bytes(self.rng.choice(alphabet) for _ in range(self.rng.randrange(1, 200)))
            self.exchange([data], self.transport(), label="json-ish noise")

    def truncated(self, catalog):
        for method, body in catalog.items():
            _, frame = self.envelope(method, json.dumps(body))
            cuts = sorted(set([0, 1, 2, len(frame) // 2, len(frame) - 2, len(frame) - 1]
                              + [self.rng.randrange(0, len(frame)) for _ in range(6)]))
            for cut in cuts:
                self.exchange([frame[:cut]], self.transport(), expect_code="bad_request", label=f"{method} cut at {cut}/{len(frame)}")

    def not_envelopes(self):
        texts = [
            "null", "true", "0", "-1", "1e400", '"queue.ping"', "[]", "{}", "[{}]", '[{"v":1}]',
            '{"v":1}', '{"id":"x"}', '{"method":"%s.ping"}' % self.service, '{"v":1,"id":"x"}',
            '{"v":1,"method":"%s.ping"}' % self.service, '{"id":"x","method":"%s.ping"}' % self.service,
            deep_array(100_000), deep_object(50_000), '{"v":1,"id":"x","method":"%s.ping","body":%s}' % (self.service, deep_array(200_000)),
            "[" + ",".join(["1"] * 100_000) + "]", '{"v":1,"id":"x",' + ",".join(f'"k{i}":{i}' for i in range(20_000)) + "}",
            '{"v":NaN,"id":"x","method":"%s.ping"}' % self.service, "{'v':1}", '{"v":1,"id":"x","method":"a.b"', "\ufeff{}",
            '{"v":1,"id":"x","method":"%s.ping","body":{}}garbage' % self.service,
        ]
        for text in texts:
            self.exchange([text.encode()], self.transport(), expect_code="bad_request", label=f"not an envelope: {text[:40]}")
        self.exchange([b"\xff\xfe{\x00}"], self.transport(), expect_code="bad_request", label="not UTF-8")

    def wrong_types(self):
        ping = f"{self.service}.ping"
        wrong = ["null", "true", '"1"', "[1]", "{}", "1.5", "1e400", str(2**64)]
        for value in wrong:
            self.exchange([('{"v":%s,"id":"x-v","method":"%s","body":{}}' % (value, ping)).encode()],
                          self.transport(), expect_code="bad_request", label=f"v = {value}")
        for value in ["null", "true", "1", "[]", "{}", "1.5"]:
            self.exchange([('{"v":1,"id":%s,"method":"%s","body":{}}' % (value, ping)).encode()],
                          self.transport(), expect_code="bad_request", label=f"id = {value}")
            request_id = self.next_id()
            self.exchange([('{"v":1,"id":"%s","method":%s,"body":{}}' % (request_id, value)).encode()],
                          self.transport(), expect_id=request_id, expect_code="bad_request", label=f"method = {value}")
        # A body that is not an object, for a method with fields and for ping.
        some = next(m for m in self.catalog if not m.endswith(".ping"))
        for value in ['"x"', "1", "[]", "[{}]", "true", "1e400", deep_array(3000)]:
            self.call(some, value, f"{some} body = {value[:20]}", expect_code="bad_request")
            self.call(ping, value, f"ping body = {value[:20]}", expect_code="bad_request")
        # Duplicate keys and keys in another case.
        request_id = self.next_id()
        self.exchange([('{"v":1,"v":2,"id":"%s","method":"%s","body":{}}' % (request_id, ping)).encode()],
                      self.transport(), label="duplicate v")
        self.exchange([('{"V":1,"ID":"x","METHOD":"%s","BODY":{}}' % ping).encode()],
                      self.transport(), expect_code="bad_request", label="keys in upper case")

    def huge_ids(self):
        ping = f"{self.service}.ping"
        for size in [1_000, 100_000, MAX_FRAME - 1_000]:
            request_id = "i" * size
            _, frame = self.envelope(ping, "{}", request_id=request_id)
            reply = self.exchange([frame], self.transport(), expect_id=request_id, label=f"id of {size} characters")
            if reply is not None and not reply.get("ok"):
                self.fail(f"id of {size} characters", f"a ping refused: {reply['error']}")
        for request_id in ["", " ", "\u0000", "\ud7ff\ue000", "🎫" * 1000, "\\", '"', "../../etc/passwd", "%s%n%x"]:
            _, frame = self.envelope(ping, "{}", request_id=request_id)
            self.exchange([frame], self.transport(), expect_id=request_id, label=f"id {request_id[:10]!r}")
        # A lone surrogate cannot be a Swift String: the envelope is refused, not crashed on.
        self.exchange([('{"v":1,"id":"\\ud800","method":"%s","body":{}}' % ping).encode()], self.transport(), label="id with a lone surrogate")

    def versions(self):
        ping = f"{self.service}.ping"
        for v in ["0", "2", "-1", "99", str(2**31), str(2**63 - 1), str(-2**63)]:
            request_id, frame = self.envelope(ping, "{}", v=v)
            self.exchange([frame], self.transport(), expect_id=request_id, expect_code="unsupported_version", label=f"v {v}")
        for v in [str(2**63), "1e308", "1.5"]:
            request_id, frame = self.envelope(ping, "{}", v=v)
            self.exchange([frame], self.transport(), label=f"v {v}")

    def unknown_methods(self):
        others = [s for s in SERVICES if s != self.service]
        names = ["", " ", ".", "ping", f"{self.service}.", f"{self.service}.PING", f"{self.service}.ping ",
                 f"{self.service}.ping\u0000", f"{self.service}..ping", f"{self.service}.nope",
                 f"{others[0]}.ping", f"{others[1]}.issue", "__proto__", "constructor", "m" * 10_000,
                 f"{self.service}." + "x" * 500_000, "🎫." * 100, "y" * (MAX_FRAME - 200)]
        for name in names:
            request_id = self.next_id()
            frame = ('{"v":1,"id":%s,"method":%s,"body":{}}' % (json.dumps(request_id), json.dumps(name))).encode()
            self.exchange([frame], self.transport(), expect_id=request_id, expect_code="unknown_method", label=f"method {name[:30]!r}")

    def bodies(self, rounds):
        for method, body in self.catalog.items():
            fields = list(body)
            self.call(method, json.dumps(body), f"{method} as documented")
            self.call(method, "{}", f"{method} empty body")
            self.call(method, "null", f"{method} null body")
            request_id = self.next_id()
            self.exchange([('{"v":1,"id":"%s","method":"%s"}' % (request_id, method)).encode()], self.transport(),
                          expect_id=request_id, label=f"{method} without body")
            for field in fields:
                missing = {k: v for k, v in body.items() if k != field}
                self.call(method, json.dumps(missing), f"{method} without {field}")
                for value in ABSURD:
                    self.call(method, self.with_field(body, field, value), f"{method} {field} = {value[:40]}")
            extra = dict(body)
            extra.update({"unknown": 1, "__proto__": {"x": 1}, "": None})
            self.call(method, json.dumps(extra), f"{method} with unknown fields")
            for round in range(rounds):
                self.call(method, self.random_body(body), f"{method} random body {round}")

    def with_field(self, body, field, raw_value):
        parts = []
        for key, value in body.items():
            parts.append("%s:%s" % (json.dumps(key), raw_value if key == field else json.dumps(value)))
        return "{" + ",".join(parts) + "}"

    def random_value(self, depth=0):
        r = self.rng
        kind = r.randrange(9 if depth < 3 else 6)
        if kind == 0:
            return None
        if kind == 1:
            return r.random() < 0.5
        if kind == 2:
            # Never a small positive number: those could name a real user, seat or reservation.
            return r.choice([r.randrange(-2**63, 0), r.randrange(10**10, 2**63), 0])
        if kind == 3:
            return r.uniform(-1e300, 1e300)
        if kind == 4:
            alphabet = "ab09 -_.:T\"\\/\u00e9\u3042\U0001F3AB\u0000\n"
            return "".join(r.choice(alphabet) for _ in range(r.choice([0, 1, 5, 40, 300, 3000])))
        if kind == 5:
            return "2026-%02d-%02dT%02d:%02d:%02d.%03dZ" % (r.randrange(0, 14), r.randrange(0, 33), r.randrange(0, 26),
                                                         r.randrange(0, 62), r.randrange(0, 62), r.randrange(0, 1000))
        if kind in (6, 7):
            return [self.random_value(depth + 1) for _ in range(r.randrange(0, 5))]
        return {self.random_key(): self.random_value(depth + 1) for _ in range(r.randrange(0, 5))}

    def random_key(self):
        return self.rng.choice(["userId", "seatId", "id", "limit", "after", "body", "x", "", "🎫", "a" * 300])

    def random_body(self, body):
        r = self.rng
        result = {}
        for key in body:
            choice = r.random()
            if choice < 0.15:
                continue  # left out
            result[key] = body[key] if choice < 0.45 else self.random_value()
        for _ in range(r.randrange(0, 3)):
            result[self.random_key()] = self.random_value()
        return json.dumps(result)

    def frames(self):
        ping_id, ping = self.envelope(f"{self.service}.ping", "{}")
        # DEALER: two frames after the identity is a route plus the request; the last frame answers.
        second_id, second = self.envelope(f"{self.service}.ping", "{}")
        self.exchange([b"route", second], "dealer", expect_id=second_id, label="dealer: a routing frame and a ping")
        self.exchange([ping, ping], "dealer-delimited", expect_id=ping_id, label="dealer: two requests in one message")
        third_id, third = self.envelope(f"{self.service}.ping", "{}")
        self.exchange([b"{}", third], "req", expect_id=third_id, label="req: a leading frame and a ping")
        # More routing frames than anything this project speaks: dropped, never answered.
        for count in [4, 5, 16, 200]:
            self.exchange([b"x"] * (count - 1) + [ping], "dealer", expect_reply=False, label=f"dealer: {count} frames")
        # Empty frames.
        self.exchange([b""], "dealer", expect_code="bad_request", label="dealer: one empty frame")
        self.exchange([b""], "dealer-delimited", expect_code="bad_request", label="dealer: delimiter and an empty frame")
        self.exchange([b""], "req", expect_code="bad_request", label="req: an empty frame")
        self.exchange([b"", b""], "dealer", expect_code="bad_request", label="dealer: two empty frames")
        # Just under and just over the 1 MiB limit: the first is read and refused as no envelope,
        # the second is never read (ZMQ_MAXMSGSIZE drops the connection).
        self.exchange([b" " * (MAX_FRAME - 2) + b"{}"], self.transport(), expect_code="bad_request", label="a frame of exactly 1 MiB")
        for kind in ["dealer", "dealer-delimited", "req"]:
            big_id = "b" * (MAX_FRAME + 1 - len(self.envelope(f"{self.service}.ping", "{}", request_id="")[1]))
            _, big = self.envelope(f"{self.service}.ping", "{}", request_id=big_id)
            assert len(big) == MAX_FRAME + 1
            self.exchange([big], kind, expect_reply=False, label=f"{kind}: a frame of 1 MiB + 1 byte")
            self.reset(kind)
        # A message of many frames adding up to more than 1 MiB is fine frame by frame.
        fourth_id, fourth = self.envelope(f"{self.service}.ping", "{}")
        self.exchange([b"r" * 600_000, b"s" * 600_000, fourth], "dealer", expect_id=fourth_id, label="dealer: 1.2 MB of routing frames")

    def burst(self, count):
        """Many requests in flight at once on one DEALER, each answered once."""
        socket = self.socket("dealer")
        wanted = set()
        names = list(self.catalog)
        for _ in range(count):
            method = self.rng.choice(names)
            request_id, frame = self.envelope(method, self.random_body(self.catalog[method]))
            wanted.add(request_id)
            socket.send_multipart([frame])
            self.sent += 1
            self.by_transport["dealer"] += 1
        deadline = time.monotonic() + max(5, self.timeout_ms / 1000)
        while wanted and time.monotonic() < deadline:
            if not socket.poll(100):
                continue
            reply = self.check(socket.recv_multipart(), "dealer", "burst")
            if reply is not None:
                self.replies += 1
                wanted.discard(reply.get("id"))
        if wanted:
            self.fail("burst", f"{len(wanted)} of {count} requests in flight got no reply")
        self.reset("dealer")

    def run(self, rounds, now_ms, user):
        self.catalog = methods(now_ms, user)[self.service]
        started = time.monotonic()
        pid = self.ping()
        if pid is None:
            self.fail("start", "no answer to ping")
            return
        self.random_bytes(rounds)
        self.truncated(self.catalog)
        self.not_envelopes()
        self.wrong_types()
        self.huge_ids()
        self.versions()
        self.unknown_methods()
        self.bodies(rounds)
        self.frames()
        self.burst(300)
        end_pid = self.ping()
        if end_pid != pid:
            self.fail("end", f"ping answered pid {end_pid}, at the start it was {pid}: the service crashed or was restarted")
        self.close()
        self.elapsed = time.monotonic() - started
        self.pid = pid


def sign_up(endpoint, timeout_ms):
    """A real user for the methods that may act for one (see NO_USER)."""
    socket = zmq.Context.instance().socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    try:
        socket.send(b'{"v":1,"id":"sign-up","method":"payment.createUser","body":{"name":"rpc fuzz"}}')
        if not socket.poll(timeout_ms):
            return None
        return json.loads(socket.recv())["body"]["id"]
    finally:
        socket.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for service in SERVICES:
        parser.add_argument(f"--{service}", default=os.environ.get(f"{service.upper()}_RPC"),
                            help=f"{service}'s RPC endpoint (default ${service.upper()}_RPC)")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "6")))
    parser.add_argument("--rounds", type=int, default=40, help="random cases per method and kind")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each reply")
    args = parser.parse_args()
    missing = [s for s in SERVICES if not getattr(args, s)]
    if missing:
        print(f"rpc_fuzz: no endpoint for {', '.join(missing)}: pass --{missing[0]} or set {missing[0].upper()}_RPC", file=sys.stderr)
        return 2

    now_ms = int(time.time() * 1000)
    user = sign_up(args.payment, int(args.timeout * 1000))
    if user is None:
        print("rpc_fuzz: payment.createUser got no answer: is the stack up?", file=sys.stderr)
        return 1
    failures = []
    lines = []
    for index, service in enumerate(SERVICES):
        fuzzer = Fuzzer(service, getattr(args, service), random.Random(args.seed * 100 + index), int(args.timeout * 1000))
        fuzzer.run(args.rounds, now_ms, user)
        failures += fuzzer.failures
        codes = ", ".join(f"{code} {count}" for code, count in sorted(fuzzer.codes.items()))
        transports = ", ".join(f"{kind} {count}" for kind, count in sorted(fuzzer.by_transport.items()))
        lines.append(f"rpc_fuzz: {service}: pid {getattr(fuzzer, 'pid', '?')}, {fuzzer.sent} messages sent ({transports}), "
                     f"{fuzzer.replies} replies ({codes}), {fuzzer.unanswered} unanswered as expected, "
                     f"{len(fuzzer.failures)} failures, {getattr(fuzzer, 'elapsed', 0):.1f} s")
    zmq.Context.instance().term()
    for failure in failures[:50]:
        print(f"FAIL {failure}")
    if len(failures) > 50:
        print(f"... and {len(failures) - 50} more failures")
    for line in lines:
        print(line)
    print(f"rpc_fuzz: seed {args.seed}: {'ok' if not failures else f'{len(failures)} failures'}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
