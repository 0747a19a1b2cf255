"""A fault-injecting JSON-RPC proxy in front of anvil (loopback only, test and bench use).

Faults on every 1/rate-th request, rotating through `faults` (default ``FAULTS``): HTTP
500/429, provider-style "too many results" errors, error texts no provider uses, slow
answers past the client's timeout, truncated bodies (and, when asked for, connections
reset without an answer);
log lists and batch replies are reordered. It also counts what the client did: getLogs
ranges asked for, and the most requests in flight at once.

    python -m tests.indexer.faultproxy --upstream URL --rate 0.2 --port 0

runs one in its own process (the benchmark does: a proxy in the indexer's process would
compete with it for the GIL); it prints its URL, then serves until stopped.
"""

from __future__ import annotations

import argparse
import random
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson

FAULTS = ("http500", "http429", "too_many", "unknown", "slow", "truncate")  # the default
#: Every kind there is.
ALL_FAULTS = (*FAULTS, "reset")
#: Faults that say nothing about the request (a client should retry them as they were).
TRANSIENT = ("http500", "http429", "slow", "truncate", "reset")
UNKNOWN_TEXT = "zx-9 kernel hiccup: retry the thing"


class FaultProxy:
    """Forwards POSTs to `upstream`, injecting faults with probability `rate`."""

    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.3,
        seed: int = 7,
        slow_s: float = 1.5,
        max_range: int = 40,
        delay_s: float = 0.0,
        faults: Sequence[str] = FAULTS,
        unknown_over: int | None = None,
        fault_for: Callable[[int, Any], str | None] | None = None,
        port: int = 0,
        random_faults: bool = False,
    ) -> None:
        self.upstream = upstream
        self.rate = rate
        self.slow_s = slow_s
        self.delay_s = delay_s  # added to every request (a slow link; rate 0: nothing else)
        self.max_range = max_range
        self.faults = tuple(faults)
        # getLogs ranges of more blocks than this always get UNKNOWN_TEXT (a provider's
        # range limit in words no client knows).
        self.unknown_over = unknown_over
        # Decides the fault of request n (1-based) with this body, instead of the rotation.
        self.fault_for = fault_for
        # Each request fails with probability `rate` (seeded) instead of every 1/rate-th:
        # an action of two requests then does not always meet a fault at 50%.
        self.random_faults = random_faults
        self.faulted = 0
        self.down = False  # while True, every request gets HTTP 503 (the node is away)
        self.rng = random.Random(seed)
        self.requests = 0
        self.lock = threading.Lock()
        self.injected: dict[str, int] = dict.fromkeys(
            (*ALL_FAULTS, "range", "reorder", "down", "unknown_size"), 0
        )
        self.ranges: list[tuple[int, int]] = []  # (fromBlock, toBlock) of each range getLogs
        self.in_flight = 0  # backfill range requests (getLogs over a range, header batches)
        self.max_in_flight = 0
        self.upstream_client = httpx.Client(timeout=30)
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.upstream_client.close()

    def _pick(self, request: Any) -> str | None:
        """Every 1/rate-th request gets the next fault in rotation: each kind happens."""
        with self.lock:
            self.requests += 1
            n = self.requests
        if self.fault_for is not None:
            fault = self.fault_for(n, request)
        elif not self.rate:
            return None
        elif self.random_faults:
            with self.lock:
                if self.rng.random() >= self.rate:
                    return None
                self.faulted += 1
                fault = self.faults[(self.faulted - 1) % len(self.faults)]
        else:
            period = max(1, round(1 / self.rate))
            if n % period:
                return None
            # The first fault is the first kind: every kind happens within len(faults) faults.
            fault = self.faults[(n // period - 1) % len(self.faults)]
        if fault is not None:
            self._count(fault)
        return fault

    def _enter(self, request: Any) -> bool:
        """Count `request`; whether it is a backfill range's (getLogs over a range, or a
        batch: headers), the requests `max_in_flight` counts."""
        items = request if isinstance(request, list) else [request]
        ranges = [
            (int(f["fromBlock"], 16), int(f["toBlock"], 16))
            for item in items
            if item.get("method") == "eth_getLogs" and "fromBlock" in (f := item["params"][0])
        ]
        counted = bool(ranges) or isinstance(request, list)
        with self.lock:
            self.ranges.extend(ranges)
            if counted:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return counted

    def _leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def reset_counts(self) -> None:
        """Forget the ranges and the in-flight maximum seen so far."""
        with self.lock:
            self.ranges.clear()
            self.max_in_flight = self.in_flight

    def _count(self, what: str) -> None:
        with self.lock:
            self.injected[what] += 1

    def _too_wide(self, request: Any, limit: int | None) -> bool:
        """A provider-style range limit on eth_getLogs: more than `limit` blocks."""
        if limit is None:
            return False
        for item in request if isinstance(request, list) else [request]:
            if item.get("method") == "eth_getLogs":
                f = item["params"][0]
                if "fromBlock" in f and int(f["toBlock"], 16) - int(f["fromBlock"], 16) >= limit:
                    return True
        return False

    def _reorder(self, reply: Any) -> Any:
        with self.lock:
            if isinstance(reply, list):
                self.rng.shuffle(reply)
                self.injected["reorder"] += 1
            elif isinstance(reply, dict) and isinstance(reply.get("result"), list):
                self.rng.shuffle(reply["result"])
                self.injected["reorder"] += 1
        return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            counted = False  # whether this request is counted in proxy.in_flight

            def _done(self) -> None:
                """Leave the in-flight count before the client can have the answer (its next
                request must not find this one still counted)."""
                if self.counted:
                    self.counted = False
                    proxy._leave()

            def _send(self, status: int, body: bytes) -> None:
                self._done()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, rid: Any, code: int, message: str) -> None:
                err = {"code": code, "message": message}
                self._send(200, orjson.dumps({"jsonrpc": "2.0", "id": rid, "error": err}))

            def _reset(self) -> None:
                """Close the connection at once with an RST, no answer."""
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self._done()
                self.close_connection = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = orjson.loads(body)
                self.counted = proxy._enter(request)
                try:
                    self._answer(body, request)
                finally:
                    self._done()

            def _answer(self, body: bytes, request: Any) -> None:
                rid = request.get("id") if isinstance(request, dict) else None
                if proxy.down:
                    proxy._count("down")
                    self._send(503, b"node unavailable")
                    return
                if proxy._too_wide(request, proxy.max_range):
                    proxy._count("range")
                    hint = f"[0x1, {hex(proxy.max_range)}]"
                    message = (
                        f"query returned more than 10000 results. Try with this block range {hint}."
                    )
                    self._error(rid, -32005, message)
                    return
                if proxy._too_wide(request, proxy.unknown_over):
                    proxy._count("unknown_size")
                    self._error(rid, -32000, UNKNOWN_TEXT)
                    return
                time.sleep(proxy.delay_s)
                fault = proxy._pick(request)
                if fault == "http500":
                    self._send(500, b"upstream exploded")
                    return
                if fault == "http429":
                    self._send(429, b"slow down")
                    return
                if fault == "reset":
                    self._reset()
                    return
                if fault in ("too_many", "unknown") and rid is not None:
                    message = "response size exceeded" if fault == "too_many" else UNKNOWN_TEXT
                    self._error(rid, -32000, message)
                    return
                if fault == "slow":
                    time.sleep(proxy.slow_s)
                headers = {"Content-Type": "application/json"}
                upstream = proxy.upstream_client.post(proxy.upstream, content=body, headers=headers)
                reply = proxy._reorder(upstream.json())
                payload = orjson.dumps(reply)
                if fault == "truncate":
                    payload = payload[: len(payload) // 2]
                self._send(upstream.status_code, payload)

        return Handler


def main() -> None:
    """Run one proxy until SIGTERM/SIGINT; its URL is printed on the first line."""
    p = argparse.ArgumentParser(prog="python -m tests.indexer.faultproxy")
    p.add_argument("--upstream", required=True)
    p.add_argument("--rate", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--slow-s", type=float, default=1.5, help="how long a 'slow' fault holds")
    p.add_argument("--max-range", type=int, default=10**9, help="blocks per getLogs allowed")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, in rotation")
    p.add_argument("--random", action="store_true", help="fail each request with P=rate")
    args = p.parse_args()
    proxy = FaultProxy(
        args.upstream,
        rate=args.rate,
        seed=args.seed,
        slow_s=args.slow_s,
        max_range=args.max_range,
        port=args.port,
        faults=args.faults.split(","),
        random_faults=args.random,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with proxy:
        print(proxy.url, flush=True)
        stop.wait()
    print(orjson.dumps(proxy.injected).decode(), flush=True)


if __name__ == "__main__":
    main()
