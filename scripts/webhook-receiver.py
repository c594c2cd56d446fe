#!/usr/bin/env python3
"""A webhook receiver for benchmarks (scripts/webhook-bench.sh): standard library only.

Answers every POST with 200 after --delay-ms (0: at once), counting requests and recording for
each its arrival time (time.time_ns(), the machine's clock, the same clock Berth stamps its
records with), its `webhook-id` header and the body's `push_data.tag`. `GET /stats` returns the
JSON summary; so does SIGTERM, written to --out. Listens on 127.0.0.1:--port (0: any free
port) and writes the port it got to --port-file once it listens.

Summary: {"requests": N, "distinct": distinct webhook-ids, "cpu_s": process CPU seconds, "arrivals": [[ns, webhook-id, tag], ...]}.
The list is bounded by --arrivals-max (its unit: requests); requests past it are only counted.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A webhook body is small (Berth's is under 1 KiB); anything larger is read and dropped.
BODY_BYTES_MAX = 64 * 1024


class Receiver:
    def __init__(self, delay_ms, arrivals_max):
        self.delay_s = delay_ms / 1000.0
        self.arrivals_max = arrivals_max
        self.lock = threading.Lock()
        self.requests = 0
        self.webhook_ids = set()
        self.arrivals = []

    def record(self, webhook_id, tag):
        arrived_ns = time.time_ns()
        with self.lock:
            self.requests += 1
            self.webhook_ids.add(webhook_id)
            if len(self.arrivals) < self.arrivals_max:
                self.arrivals.append([arrived_ns, webhook_id, tag])

    def summary(self):
        with self.lock:
            times = os.times()
            return {
                "requests": self.requests,
                "distinct": len(self.webhook_ids),
                "cpu_s": times.user + times.system,
                "arrivals": list(self.arrivals),
            }


def handler_for(receiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The answer's head and body go out in two writes: with Nagle's algorithm on, the body
        # waits for the head's ACK, which the client delays (about 40 ms on Linux), and that
        # wait, not Berth, would set the delivery rate.
        disable_nagle_algorithm = True

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(min(length, BODY_BYTES_MAX))
            if length > BODY_BYTES_MAX:
                self.rfile.read(length - BODY_BYTES_MAX)
            tag = None
            try:
                tag = json.loads(body).get("push_data", {}).get("tag")
            except (ValueError, AttributeError):
                pass
            # Arrival is when the request was read, before the delay that models a slow receiver.
            receiver.record(self.headers.get("webhook-id"), tag)
            if receiver.delay_s > 0:
                time.sleep(receiver.delay_s)
            self.answer(200, b"ok")

        def do_GET(self):
            if self.path != "/stats":
                self.answer(404, b"not found")
                return
            self.answer(200, json.dumps(receiver.summary()).encode(), "application/json")

        def answer(self, status, body, content_type="text/plain"):
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--arrivals-max", type=int, default=1_000_000)
    parser.add_argument("--out", help="file the summary is written to on SIGTERM")
    args = parser.parse_args()

    receiver = Receiver(args.delay_ms, args.arrivals_max)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(receiver))
    server.daemon_threads = True

    def stop(signum, frame):
        if args.out:
            with open(args.out + ".tmp", "w") as f:
                json.dump(receiver.summary(), f)
            os.replace(args.out + ".tmp", args.out)
        # shutdown() waits for serve_forever, which runs on this thread: leave from here.
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
