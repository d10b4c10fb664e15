#!/usr/bin/env python3
"""Fuzzes the gateway's HTTP API from its own OpenAPI document with schemathesis.

It signs a user up and waits until the user's waiting-room token is active (plain HTTP), then runs
`schemathesis run <base>/openapi.json` with that user's `Authorization: Bearer <apiKey>` and
`X-Queue-Token` for the operations that need them and the admin bearer for the admin API (the
document's security schemes `apiKey`, `queueToken` and `admin`), so generated requests get past
authentication and the waiting room into the handlers. Leaving the line (DELETE
/api/v1/queue/tokens/current) expires the token it is given, so it runs last, with a second user.

Checks: no 5xx at all (every backend is up), every 4xx is application/problem+json with the
contract's fields and its own status (a check of this file, registered by loading it as
schemathesis' hooks module), and schemathesis' conformance checks: documented status codes,
content types, headers and response schemas, negative data rejected, required headers required,
authentication not ignored, unsupported methods answered 405.

The seed is fixed (--seed, FUZZ_SEED), examples per operation and time are bounded. Prints how many
requests were sent and their status counts. Exit 0 when every check held.
"""

import argparse
import atexit
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

HERE = os.path.abspath(__file__)

# MARK: the checks and hooks of this file, when schemathesis loads it as its hooks module

if os.environ.get("SCHEMATHESIS_HOOKS") == HERE:
    import threading

    import schemathesis

    class LiveToken:
        """Keeps the fuzzing user's waiting-room token active. A payment that succeeds expires the
        payer's token (CONTRACT §3), which would leave every gated endpoint at 403 for the rest of the
        run; when that happens, the user takes a new place and, once admitted, goes on with it."""

        def __init__(self):
            self.base = os.environ["HTTP_FUZZ_BASE"]
            self.api_key = os.environ["HTTP_FUZZ_API_KEY"]
            self.configured = os.environ["HTTP_FUZZ_TOKEN"]
            self.current = self.configured
            self.renewals = 0
            self.lock = threading.Lock()

        def renew(self, stale):
            with self.lock:
                if self.current == stale:
                    self.current = admitted_token(self.base, self.api_key)
                    self.renewals += 1

    live = LiveToken()
    atexit.register(lambda: print(f"http_fuzz: queue token renewals after a payment expired it: {live.renewals}"))

    @schemathesis.hook
    def before_call(context, case, kwargs):
        # Only the token the auth configuration put there; a test that changed it keeps its own.
        if case.headers and case.headers.get("X-Queue-Token") == live.configured:
            case.headers["X-Queue-Token"] = live.current

    @schemathesis.hook
    def after_call(context, case, response):
        sent = response.request.headers
        if response.status_code == 403 and sent.get("Authorization") == f"Bearer {live.api_key}" \
                and sent.get("X-Queue-Token") == live.current and b"queue_token_inactive" in response.content:
            live.renew(live.current)

    @schemathesis.check
    def problem_json_for_4xx(ctx, response, case):
        """CONTRACT §3: every error is application/problem+json {type, title, status, detail, code}."""
        if not 400 <= response.status_code < 500:
            return None
        media_type = response.headers.get("content-type", [""])[0].split(";")[0].strip()
        if media_type != "application/problem+json":
            raise AssertionError(f"a {response.status_code} answered as {media_type or 'no content type'}, not application/problem+json")
        try:
            problem = json.loads(response.content)
        except ValueError as error:
            raise AssertionError(f"a {response.status_code} problem is not JSON: {error}")
        missing = [key for key in ("type", "title", "status", "detail", "code") if key not in problem]
        if missing:
            raise AssertionError(f"the problem lacks {', '.join(missing)}: {problem}")
        if problem["status"] != response.status_code or not isinstance(problem["code"], str) or not problem["code"]:
            raise AssertionError(f"the problem's status or code is wrong for a {response.status_code}: {problem}")
        return None


# MARK: the run

def request(base, method, path, body=None, headers=None, timeout=5):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def admitted_token(base, api_key, timeout=20):
    """The user's live waiting-room token, once it is active (a new place if it had none)."""
    auth = {"Authorization": f"Bearer {api_key}"}
    status, issued = request(base, "POST", "/api/v1/queue/tokens", headers=auth)
    if status not in (200, 201):
        raise SystemExit(f"http_fuzz: taking a place in the waiting room answered {status}: {issued}")
    token = issued["token"]
    deadline = time.monotonic() + timeout
    while True:
        status, view = request(base, "GET", "/api/v1/queue/tokens/current", headers={**auth, "X-Queue-Token": token})
        if status == 200 and view["status"] == "active":
            return token
        if time.monotonic() > deadline:
            raise SystemExit(f"http_fuzz: not admitted within {timeout} s (is QUEUE_ADMIT_PER_SECOND high?): {status} {view}")
        time.sleep(0.1)


def admitted_user(base, name):
    """Signs a user up and waits until its waiting-room token is active: (apiKey, token)."""
    status, user = request(base, "POST", "/api/v1/users", {"name": name})
    if status != 201:
        raise SystemExit(f"http_fuzz: sign-up answered {status}: {user}")
    return user["apiKey"], admitted_token(base, user["apiKey"])


def config_text(api_key, token, admin_token, args, har_path):
    """schemathesis.toml: auth per security scheme, the checks, generation bounds and the seed."""
    return f"""
seed = {args.seed}
workers = {args.workers}
continue-on-failure = true
max-failures = 100
request-timeout = 10
suppress-health-check = ["too_slow", "filter_too_much", "data_too_large", "large_base_example"]

# Nothing carried over from an earlier run (nor a .schemathesis folder left in the work tree).
[cache]
enabled = false

[auth.openapi.apiKey]
bearer = {json.dumps(api_key)}

[auth.openapi.queueToken]
api_key = {json.dumps(token)}

[auth.openapi.admin]
bearer = {json.dumps(admin_token)}

[generation]
max-examples = {args.max_examples}
mode = "all"

[phases.stateful]
enabled = false

[checks]
enabled = true

# Schema-valid requests that the API may still refuse for a reason JSON Schema cannot state, beside
# the check's defaults (2xx, 3xx, 401, 403, 404, 409, 429; 5xx is not_a_server_error's business):
# a name is 1–50 characters *after trimming* with no control character; a schedule's dates must be
# in order; an Idempotency-Key already used for another request is 422, a matter of state like 409.
[[operations]]
include-operation-id = ["signUp", "createConcert"]
[operations.checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]

[[operations]]
include-operation-id = ["charge", "pay"]
[operations.checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

[reports.har]
enabled = true
path = {json.dumps(har_path)}
"""


def run_schemathesis(base, credentials, config, operations, label, args, folder, har_path):
    config_path = os.path.join(folder, f"{label}.toml")
    with open(config_path, "w") as file:
        file.write(config)
    command = [os.path.join(os.path.dirname(sys.executable), "schemathesis"), "--config-file", config_path, "run",
               f"{base}/openapi.json", "--url", base, "--no-color"] + operations
    environment = dict(os.environ, SCHEMATHESIS_HOOKS=HERE, NO_COLOR="1", HTTP_FUZZ_BASE=base,
                       HTTP_FUZZ_API_KEY=credentials[0], HTTP_FUZZ_TOKEN=credentials[1])
    started = time.monotonic()
    # Bounded by examples per operation, not by --max-time: with a time budget schemathesis goes on
    # fuzzing until it is spent. The timeout only stops a run that hangs.
    finished = subprocess.run(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=args.timeout)
    elapsed = time.monotonic() - started
    print(f"--- schemathesis ({label}), {elapsed:.1f} s, exit {finished.returncode}")
    print(finished.stdout)
    statuses = Counter()
    if os.path.exists(har_path):
        with open(har_path) as file:
            for entry in json.load(file)["log"]["entries"]:
                path = re.sub(r"/[^/]*\d[^/]*(?=/|$)", "/{id}", urllib.parse.urlsplit(entry["request"]["url"]).path)
                statuses[(entry["request"]["method"], path, entry["response"]["status"])] += 1
    return finished.returncode, statuses


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default=os.environ.get("GATEWAY_URL"), help="the gateway, e.g. http://127.0.0.1:8080")
    parser.add_argument("--admin-token", default=os.environ.get("ADMIN_TOKEN"), help="the stack's ADMIN_TOKEN")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "6")))
    parser.add_argument("--max-examples", type=int, default=80, help="generated cases per operation and phase")
    parser.add_argument("--timeout", type=int, default=150, help="seconds after which a schemathesis run counts as hung")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not args.base_url or not args.admin_token:
        print("http_fuzz: pass --base-url and --admin-token (or GATEWAY_URL and ADMIN_TOKEN)", file=sys.stderr)
        return 2
    base = args.base_url.rstrip("/")

    status, _ = request(base, "GET", "/readyz")
    if status != 200:
        print(f"http_fuzz: {base}/readyz answered {status}: the stack is not ready", file=sys.stderr)
        return 1
    api_key, token = admitted_user(base, "fuzz")
    leaver_key, leaver_token = admitted_user(base, "fuzz-leaver")

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="http-fuzz-") as folder:
        main_har = os.path.join(folder, "main.har")
        code, statuses = run_schemathesis(base, (api_key, token), config_text(api_key, token, args.admin_token, args, main_har),
                                          ["--exclude-operation-id", "leaveQueue"], "every operation but leaveQueue", args, folder, main_har)
        leave_har = os.path.join(folder, "leave.har")
        leave_code, leave_statuses = run_schemathesis(base, (leaver_key, leaver_token),
                                                      config_text(leaver_key, leaver_token, args.admin_token, args, leave_har),
                                                      ["--include-operation-id", "leaveQueue"], "leaveQueue", args, folder, leave_har)
    statuses += leave_statuses
    by_operation = {}
    for (method, path, status), count in sorted(statuses.items()):
        by_operation.setdefault(f"{method} {path}", Counter())[status] += count
    for operation, counts in by_operation.items():
        print(f"http_fuzz:   {operation}: " + ", ".join(f"{status} {count}" for status, count in sorted(counts.items())))
    by_status = Counter()
    for (_, _, status), count in statuses.items():
        by_status[status] += count
    total = sum(by_status.values())
    counts = ", ".join(f"{status} {count}" for status, count in sorted(by_status.items()))
    server_errors = sum(count for status, count in by_status.items() if status >= 500)
    print(f"http_fuzz: seed {args.seed}: {total} requests sent in {time.monotonic() - started:.1f} s; statuses: {counts}")
    failed = code != 0 or leave_code != 0 or server_errors or total == 0
    if server_errors:
        print(f"http_fuzz: {server_errors} answers were 5xx")
    print(f"http_fuzz: {'failed' if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
