#!/usr/bin/env python3
"""A small launch day on the real stack, seen through its own metrics.

Starts the five release binaries (deploy/local/run-stack.sh) on a free port with a fresh data
folder, lets a crowd of fans in at once (sign up, top up, join the waiting room, hold a seat,
pay, or let the hold lapse), freezes the reservation service for four seconds half way, and
scrapes the gateway's /metrics, the whole stack's, once a second. Then it plots what an
operator's dashboard (deploy/grafana/launch-day.json) would show into a PNG.

    .venv/bin/python Benchmarks/launch_day.py --out docs/observability/launch-day.png

`make launch-day` builds the release binaries, installs matplotlib into the project's .venv and runs it.
"""

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """The five processes under run-stack.sh, ipc endpoints in a temporary folder."""

    def __init__(self, bin_dir, environment):
        self.folder = tempfile.mkdtemp(prefix="launch-day-")
        self.port = free_port()
        env = dict(os.environ, DATA_DIR=os.path.join(self.folder, "data"), GATEWAY_PORT=str(self.port),
                   GATEWAY_HOST="127.0.0.1", LOG_LEVEL="warning", **environment)
        for service in ("queue", "concert", "payment", "reservation"):
            env[f"{service.upper()}_RPC"] = f"ipc://{self.folder}/{service}.rpc"
            env[f"{service.upper()}_EVENTS"] = f"ipc://{self.folder}/{service}.events"
        self.log = open(os.path.join(self.folder, "stack.log"), "w")
        self.process = subprocess.Popen([os.path.join(ROOT, "deploy/local/run-stack.sh"), bin_dir], env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, seconds=60):
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                if request("GET", self.base + "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"the stack did not become ready; see {self.log.name}")

    def signal(self, name, sig):
        # Only this stack's process: run-stack.sh leads the session, so its group is the stack.
        subprocess.run(["pkill", sig, "-g", str(self.process.pid), "-f", f"/{name} serve"], check=False)

    def stop(self):
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def request(method, url, body=None, headers=None, timeout=5):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def fan(stack, index, delay, stop, pay_share):
    """One fan's launch day: arrives after `delay` seconds; in, a seat, then pay or walk away (the hold lapses)."""
    rng = random.Random(index)
    if stop.wait(delay):
        return
    try:
        status, body = request("POST", stack.base + "/api/v1/users", {"name": f"fan {index}"})
        if status != 201:
            return
        key = json.loads(body)["apiKey"]
        auth = {"Authorization": f"Bearer {key}"}
        request("POST", stack.base + "/api/v1/wallet/charges", {"amount": 1_000_000}, {**auth, "Idempotency-Key": f"top-up-{index}"})
        status, body = request("POST", stack.base + "/api/v1/queue/tokens", headers=auth)
        token = json.loads(body).get("token")
        gated = {**auth, "X-Queue-Token": token}
        while not stop.is_set():
            status, body = request("GET", stack.base + "/api/v1/queue/tokens/current", headers=gated)
            if status == 200 and json.loads(body).get("status") == "active":
                break
            time.sleep(0.5)
        status, body = request("GET", stack.base + "/api/v1/concerts", headers=gated)
        concerts = [c["id"] for c in json.loads(body)] if status == 200 else []
        for attempt in range(6):
            if stop.is_set() or not concerts:
                return
            status, body = request("GET", f"{stack.base}/api/v1/concerts/{rng.choice(concerts)}/schedules", headers=gated)
            schedules = [s["id"] for s in json.loads(body)] if status == 200 else []
            if not schedules:
                time.sleep(0.3)
                continue
            schedule = rng.choice(schedules)
            status, body = request("GET", f"{stack.base}/api/v1/schedules/{schedule}/seats", headers=gated)
            if status != 200:
                time.sleep(0.3)
                continue
            free = [s["id"] for s in json.loads(body)["seats"] if s["status"] == "available"]
            if not free:
                continue
            status, body = request("POST", stack.base + "/api/v1/reservations", {"seatId": rng.choice(free)}, gated)
            if status != 201:
                time.sleep(0.2)
                continue
            reservation = json.loads(body)["id"]
            time.sleep(rng.uniform(0.5, 3))
            if rng.random() < pay_share:
                for _ in range(3):
                    status, _ = request("POST", f"{stack.base}/api/v1/reservations/{reservation}/payment",
                                        headers={**gated, "Idempotency-Key": f"pay-{reservation}"})
                    if status < 500:
                        break
                    time.sleep(0.5)
            return
    except (OSError, ValueError, KeyError):
        return


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([-+0-9.eE]+|NaN|\+Inf)$')


def parse(text):
    """Prometheus text as {(name, frozenset(labels)): value}."""
    out = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if not match:
            continue
        labels = frozenset(re.findall(r'([a-zA-Z_]+)="([^"]*)"', match.group(2) or ""))
        out[(match.group(1), labels)] = float(match.group(3))
    return out


def total(sample, name, **want):
    """The sum of the matching samples, or NaN when the scrape had none (a service that did not
    answer it: the plot shows a gap rather than a fall to zero)."""
    found = [v for (n, labels), v in sample.items() if n == name and all((k, w) in labels for k, w in want.items())]
    return sum(found) if found else float("nan")


def series(samples, name, **want):
    return [total(s, name, **want) for _, s in samples]


def rate(values, times):
    """Per-second increase between consecutive scrapes; NaN across a gap."""
    out = [float("nan")]
    for a, b, ta, tb in zip(values, values[1:], times, times[1:]):
        out.append(float("nan") if a != a or b != b else max(0.0, (b - a) / max(1e-9, tb - ta)))
    return out


def plot(samples, freeze, out, fans):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = samples[0][0]
    times = [t - t0 for t, _ in samples]
    figure, axes = plt.subplots(3, 2, figsize=(13, 10), sharex=True)
    figure.suptitle(f"Launch day on the real stack: {fans} fans, a crowd at the opening and the rest arriving after; "
                    "reservation frozen for 4 s (shaded)\n"
                    "the stack's own metrics, from one scrape of the gateway's /metrics a second", fontsize=12)

    def panel(ax, title, lines, ylabel):
        for label, values in lines:
            ax.plot(times, values, label=label, linewidth=1.6)
        ax.set_title(title, fontsize=11)
        ax.set_ylabel(ylabel)
        ax.axvspan(freeze[0] - t0, freeze[1] - t0, color="#d9534f", alpha=0.12)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")

    ok = [a + b for a, b in zip(series(samples, "hb_requests", http_response_status_code="200"),
                                series(samples, "hb_requests", http_response_status_code="201"))]
    unavailable = series(samples, "hb_requests", http_response_status_code="503")
    panel(axes[0][0], "HTTP answers per second (gateway)",
          [("200/201", rate(ok, times)), ("503", rate(unavailable, times))], "answers / s")
    panel(axes[0][1], "Waiting room (queue)",
          [("waiting", series(samples, "queue_waiting_tokens")), ("active", series(samples, "queue_active_tokens")),
           ("admitted / s", rate(series(samples, "queue_admitted_total"), times))], "tokens")
    panel(axes[1][0], "Saga steps per second (reservation)",
          [("paid", rate(series(samples, "saga_steps_total", outcome="paid"), times)),
           ("hold lapsed", rate(series(samples, "reservation_holds_lapsed_total"), times)),
           ("retried", rate(series(samples, "saga_retries_total"), times))], "per second")

    def per_interval(numerators, denominators, scale=1.0):
        """Δnumerator / Δdenominator between consecutive scrapes (a histogram's mean per second)."""
        out = [float("nan")]
        for i in range(1, len(numerators)):
            d = denominators[i] - denominators[i - 1]
            out.append(scale * (numerators[i] - numerators[i - 1]) / d if d > 0 else float("nan"))
        return out

    def mean_latency(service):
        return per_interval(series(samples, "rpc_server_duration_seconds_sum", service=service),
                            series(samples, "rpc_server_duration_seconds_count", service=service), 1000)
    panel(axes[1][1], "RPC handling time, mean per second, by service",
          [(service, mean_latency(service)) for service in ("queue", "concert", "payment", "reservation")], "ms")
    panel(axes[2][0], "Calls the gateway made that got no answer",
          [("no answer / s", rate(series(samples, "gateway_rpc_calls", outcome="no_answer"), times)),
           ("requests in flight (reservation)", series(samples, "rpc_server_in_flight", service="reservation"))], "")
    per_batch = per_interval(series(samples, "group_commit_batch_size_sum"), series(samples, "group_commit_batch_size_count"))
    panel(axes[2][1], "Group commit and outbox",
          [("writes per transaction (all backends)", per_batch),
           ("outbox events unpublished", series(samples, "outbox_lag_events"))], "")
    for ax in axes[2]:
        ax.set_xlabel("seconds")
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    figure.savefig(out, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build/release"))
    parser.add_argument("--fans", type=int, default=700)
    parser.add_argument("--burst", type=int, default=300, help="fans who arrive at the opening; the rest arrive evenly after")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs/observability/launch-day.png"))
    args = parser.parse_args()

    stack = Stack(args.bin, {"QUEUE_ADMIT_PER_SECOND": "15", "HOLD_SECONDS": "6", "QUEUE_ACTIVE_SECONDS": "120"})
    samples, stop = [], threading.Event()
    try:
        stack.wait_ready()
        start = time.time()
        freeze = (start + args.seconds * 0.5, start + args.seconds * 0.5 + 4)
        later = max(1, args.fans - args.burst)
        arrival = [0.0 if i < args.burst else (i - args.burst) * (args.seconds * 0.8) / later for i in range(args.fans)]
        crowd = [threading.Thread(target=fan, args=(stack, i, arrival[i], stop, 0.75), daemon=True) for i in range(args.fans)]
        for thread in crowd:
            thread.start()
        frozen = False
        while time.time() - start < args.seconds:
            now = time.time()
            if not frozen and now >= freeze[0]:
                stack.signal("reservation", "-STOP")
                frozen = True
            if frozen and now >= freeze[1]:
                stack.signal("reservation", "-CONT")
            try:
                status, body = request("GET", stack.base + "/metrics", timeout=3)
                if status == 200:
                    samples.append((time.time(), parse(body.decode())))
            except OSError:
                pass
            time.sleep(max(0.0, 1 - (time.time() - now)))
        stop.set()
        stack.signal("reservation", "-CONT")
    finally:
        stop.set()
        stack.stop()
    plot(samples, freeze, args.out, args.fans)
    last = samples[-1][1]
    print(f"launch-day: {len(samples)} scrapes; paid {total(last, 'saga_steps_total', outcome='paid'):.0f}, "
          f"lapsed {total(last, 'reservation_holds_lapsed_total'):.0f}, 503s {total(last, 'hb_requests', http_response_status_code='503'):.0f}; "
          f"picture in {args.out}")


if __name__ == "__main__":
    sys.exit(main())
