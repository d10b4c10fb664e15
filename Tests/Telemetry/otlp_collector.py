#!/usr/bin/env python3
"""A stand-in OpenTelemetry collector for the tests: accepts OTLP/HTTP exports (POST /v1/traces,
/v1/logs, /v1/metrics), answers 200 with an empty export response, and keeps each body as a file
in the given folder, named by arrival, for the test to read.

    python3 otlp_collector.py PORT FOLDER
"""
import itertools
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, folder = int(sys.argv[1]), sys.argv[2]
counter = itertools.count()


class Collector(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        kind = self.path.strip("/").replace("/", "-")
        name = os.path.join(folder, f"{next(counter):05d}-{kind}")
        with open(name + ".part", "wb") as out:
            out.write(body)
        os.rename(name + ".part", name + (".json" if "json" in self.headers.get("Content-Type", "") else ".pb"))
        json_answer = "json" in self.headers.get("Content-Type", "")
        answer = b"{}" if json_answer else b""
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if json_answer else "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format, *args):
        sys.stderr.write("collector: " + format % args + "\n")


ThreadingHTTPServer(("127.0.0.1", port), Collector).serve_forever()
