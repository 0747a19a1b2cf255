"""A fault-injecting JSON-RPC proxy in front of anvil (loopback only, test use).

Faults on every 1/rate-th request, rotating through: HTTP 500/429, provider-style "too many results"
errors, error texts no provider uses, slow answers past the client's timeout, truncated
bodies, and reordered log lists and batch replies.
"""

from __future__ import annotations

import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson

FAULTS = ("http500", "http429", "too_many", "unknown", "slow", "truncate")


class FaultProxy:
    """Forwards POSTs to `upstream`, injecting faults with probability `rate`."""

    def __init__(self, upstream: str, rate: float = 0.3, seed: int = 7, slow_s: float = 1.5,
                 max_range: int = 40, delay_s: float = 0.0) -> None:  # fmt: skip
        self.upstream = upstream
        self.rate = rate
        self.slow_s = slow_s
        self.delay_s = delay_s  # added to every request (a slow link; rate 0: nothing else)
        self.max_range = max_range
        self.rng = random.Random(seed)
        self.requests = 0
        self.lock = threading.Lock()
        self.injected: dict[str, int] = dict.fromkeys((*FAULTS, "range", "reorder"), 0)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
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

    def _pick(self) -> str | None:
        """Every 1/rate-th request gets the next fault in rotation: each kind happens."""
        with self.lock:
            self.requests += 1
            if not self.rate:
                return None
            period = max(1, round(1 / self.rate))
            if self.requests % period:
                return None
            fault = FAULTS[(self.requests // period) % len(FAULTS)]
            self.injected[fault] += 1
            return fault

    def _count(self, what: str) -> None:
        with self.lock:
            self.injected[what] += 1

    def _too_wide(self, request: Any) -> bool:
        """A provider-style range limit on eth_getLogs."""
        for item in request if isinstance(request, list) else [request]:
            if item.get("method") == "eth_getLogs":
                f = item["params"][0]
                if (
                    "fromBlock" in f
                    and int(f["toBlock"], 16) - int(f["fromBlock"], 16) >= self.max_range
                ):
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

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = orjson.loads(body)
                rid = request.get("id") if isinstance(request, dict) else None
                if proxy._too_wide(request):
                    proxy._count("range")
                    err = {
                        "code": -32005,
                        "message": "query returned more than 10000 results. Try with this"
                        f" block range [0x1, {hex(proxy.max_range)}].",
                    }
                    self._send(200, orjson.dumps({"jsonrpc": "2.0", "id": rid, "error": err}))
                    return
                time.sleep(proxy.delay_s)
                fault = proxy._pick()
                if fault == "http500":
                    self._send(500, b"upstream exploded")
                    return
                if fault == "http429":
                    self._send(429, b"slow down")
                    return
                if fault in ("too_many", "unknown") and rid is not None:
                    message = ("response size exceeded" if fault == "too_many"
                               else "zx-9 kernel hiccup: retry the thing")  # fmt: skip
                    err = {"code": -32000, "message": message}
                    self._send(200, orjson.dumps({"jsonrpc": "2.0", "id": rid, "error": err}))
                    return
                if fault == "slow":
                    time.sleep(proxy.slow_s)
                headers = {"Content-Type": "application/json"}
                upstream = httpx.post(proxy.upstream, content=body, headers=headers, timeout=30)
                reply = proxy._reorder(upstream.json())
                payload = orjson.dumps(reply)
                if fault == "truncate":
                    payload = payload[: len(payload) // 2]
                self._send(upstream.status_code, payload)

        return Handler
