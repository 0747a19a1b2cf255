"""Raw JSON-RPC client for the indexer's hot path.

web3.py costs ~10x more per log than stdlib ``http.client`` + ``orjson`` (see
PERFORMANCE-FACTS), so the indexer speaks JSON-RPC directly. One keep-alive connection per
thread; batches for headers; every failure becomes a typed error the sync stage can act on.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from common.errors import RetryableError
from indexer.retry import RetryPolicy

JsonObj = dict[str, Any]
#: Tries of a small call (chain id, head, one header) before its failure reaches the caller.
SMALL_CALL_ATTEMPTS = 4


class RpcError(RetryableError):
    """The node answered with an error this client does not recognise; subclasses say more
    (``TransientRpcError``: the request never got a proper answer, ``RangeTooLargeError``)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(f"{message} (code {code})" if code is not None else message)
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from the constructor's arguments (fetch processes send errors back).
        return type(self), (self.message, self.code)


class TransientRpcError(RpcError):
    """The request failed on the way (connection reset, HTTP 429/5xx, a body that is not
    JSON-RPC): nothing says the request was wrong, so it is retried as it was."""


class RpcTimeoutError(TransientRpcError):
    """No answer within the client's per-request timeout (``RpcClient.timeout``). Retried
    as it was; a range that times out again and again is shrunk (the node may be slow to
    answer ranges that big)."""


class RangeTooLargeError(RpcError):
    """The node refused a getLogs range; `suggested_size` is its hint, when it gave one."""

    def __init__(self, message: str, code: int | None, suggested_size: int | None) -> None:
        super().__init__(message, code)
        self.suggested_size = suggested_size

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.message, self.code, self.suggested_size)


# Providers phrase "your range is too big" in many ways; these are the ones with a hint.
_HEX_RANGE = re.compile(r"\[\s*(0x[0-9a-fA-F]+)\s*,\s*(0x[0-9a-fA-F]+)\s*\]")
# A number in a message that talks about a range, unless it counts results, logs or bytes.
_RANGE_NUMBER = re.compile(
    r"(\d[\d,_]*)(?![\d,_])\s*([kK]\b)?(?!\s*(?:results|logs|bytes|[mM][bB]|s\b|seconds|ms\b))"
)
_TOO_MANY = re.compile(
    r"too many|more than \d|limit exceeded|response size|too large|exceed|timeout|timed out",
    re.IGNORECASE,
)


def classify_logs_error(message: str, code: int | None) -> RpcError:
    """Turn a getLogs error into RangeTooLargeError (with the node's hint) or RpcError."""
    if m := _HEX_RANGE.search(message):
        start, end = int(m.group(1), 16), int(m.group(2), 16)
        return RangeTooLargeError(message, code, max(1, end - start + 1))
    if "range" in message.lower() and (m := _RANGE_NUMBER.search(message)):
        size = int(re.sub(r"[,_]", "", m.group(1))) * (1000 if m.group(2) else 1)
        return RangeTooLargeError(message, code, max(1, size))
    if _TOO_MANY.search(message):
        return RangeTooLargeError(message, code, None)
    return RpcError(message, code)


@dataclass(frozen=True)
class Header:
    """The block header fields the indexer needs."""

    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    logs_bloom: bytes

    @classmethod
    def from_json(cls, block: JsonObj) -> Header:
        """Parse an ``eth_getBlockBy*`` result."""
        return cls(
            number=int(block["number"], 16),
            hash=bytes.fromhex(block["hash"][2:]),
            parent_hash=bytes.fromhex(block["parentHash"][2:]),
            timestamp=int(block["timestamp"], 16),
            logs_bloom=bytes.fromhex(block.get("logsBloom", "0x")[2:]),
        )


class RpcClient:
    """Thread-safe JSON-RPC over HTTP: one persistent connection per thread.

    `timeout` is the per-request timeout: a request that gets no bytes for that long is
    abandoned (``RpcTimeoutError``) and its connection closed. It bounds the connect and
    each read, so a node that trickles an answer byte by byte is not cut off by it."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"unsupported RPC URL scheme: {url}")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path or "/"
        self.timeout = timeout
        self._local = threading.local()
        self.retry = RetryPolicy()
        self._ids = iter(range(1, 2**62))
        self._id_lock = threading.Lock()

    # -- transport --------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _post(self, body: bytes) -> Any:
        conn = self._connection()
        try:
            conn.request("POST", self._path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
        except TimeoutError as exc:
            self._drop_connection(conn)
            raise RpcTimeoutError(f"transport: no answer within {self.timeout} s") from exc
        except (OSError, http.client.HTTPException) as exc:
            self._drop_connection(conn)
            raise TransientRpcError(f"transport: {type(exc).__name__}: {exc}") from exc
        if response.status >= 500 or response.status == 429:
            raise TransientRpcError(f"HTTP {response.status}: {payload[:200]!r}", response.status)
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            self._drop_connection(conn)
            raise TransientRpcError(
                f"invalid JSON from node ({len(payload)} bytes): {exc}"
            ) from exc

    def _drop_connection(self, conn: http.client.HTTPConnection) -> None:
        """Close `conn`: after a failure its stream may hold half an answer."""
        conn.close()
        self._local.conn = None

    def _next_id(self) -> int:
        with self._id_lock:
            return next(self._ids)

    # -- calls ------------------------------------------------------------------------
    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One JSON-RPC call; raises RpcError on an error answer."""
        request_id = self._next_id()
        body = orjson.dumps(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        )
        reply = self._post(body)
        if not isinstance(reply, dict) or reply.get("id") != request_id:
            raise TransientRpcError(f"malformed reply to {method}")
        if "error" in reply:
            err = reply["error"] or {}
            raise RpcError(str(err.get("message", err)), err.get("code"))
        if "result" not in reply:
            raise RpcError(f"reply to {method} has no result")
        return reply["result"]

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several calls in one HTTP request; results in call order (replies may be reordered)."""
        if not calls:
            return []
        ids = [self._next_id() for _ in calls]
        body = orjson.dumps(
            [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                for i, (m, p) in zip(ids, calls, strict=True)
            ]
        )
        replies = self._post(body)
        if not isinstance(replies, list):
            if isinstance(replies, dict) and "error" in replies:
                err = replies["error"] or {}
                raise RpcError(str(err.get("message", err)), err.get("code"))
            raise TransientRpcError("malformed batch reply")
        by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
        results = []
        for request_id, (method, _) in zip(ids, calls, strict=True):
            reply = by_id.get(request_id)
            if reply is None:
                raise RpcError(f"batch reply lacks the answer to {method}")
            if "error" in reply:
                err = reply["error"] or {}
                raise RpcError(str(err.get("message", err)), err.get("code"))
            results.append(reply.get("result"))
        return results

    # -- typed helpers ----------------------------------------------------------------
    def _small(self, method: str, params: Sequence[Any] = ()) -> Any:
        """``call``, with failures retried in place a few times: the callers
        (start-up, the finalized head, live polls) can do nothing else meanwhile, and
        restarting what they were doing would cost more than the wait."""
        return self.retry.call(
            lambda: self.call(method, params),
            what="rpc",
            retry_on=(RpcError,),  # an unknown error text too: these calls have no size
            attempts=SMALL_CALL_ATTEMPTS,
        )

    def chain_id(self) -> int:
        """``eth_chainId``."""
        return int(self._small("eth_chainId"), 16)

    def block_number(self) -> int:
        """``eth_blockNumber``."""
        return int(self._small("eth_blockNumber"), 16)

    def header(self, block: int | str) -> Header | None:
        """Header by number or tag ("latest", "finalized"); None when the node has none."""
        tag = hex(block) if isinstance(block, int) else block
        result = self._small("eth_getBlockByNumber", [tag, False])
        return Header.from_json(result) if result else None

    def headers(self, numbers: Sequence[int], batch_size: int = 100) -> list[Header]:
        """Headers for `numbers` (batched); RpcError if the node lacks any of them."""
        out: list[Header] = []
        for i in range(0, len(numbers), batch_size):
            chunk = numbers[i : i + batch_size]
            results = self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in chunk])
            for number, result in zip(chunk, results, strict=True):
                if not result:
                    raise RpcError(f"node has no block {number}")
                out.append(Header.from_json(result))
        return out

    def get_logs(
        self, from_block: int, to_block: int, addresses: Sequence[str], topics: Sequence[str]
    ) -> list[JsonObj]:
        """``eth_getLogs`` over a block range; size errors become RangeTooLargeError."""
        params = [
            {
                "fromBlock": hex(from_block),
                "toBlock": hex(to_block),
                "address": list(addresses),
                "topics": [list(topics)],
            }
        ]
        try:
            result = self.call("eth_getLogs", params)
        except (RangeTooLargeError, TransientRpcError):
            raise
        except RpcError as exc:  # the node's own error: maybe about the range's size
            raise classify_logs_error(exc.message, exc.code) from exc
        if not isinstance(result, list):
            raise RpcError("eth_getLogs returned a non-list")
        return result

    def logs_by_block_hash(
        self, block_hashes: Sequence[bytes], addresses: Sequence[str], topics: Sequence[str]
    ) -> list[list[JsonObj]]:
        """Logs of exactly these blocks (EIP-234 ``blockHash`` filter), one batch request."""
        calls = [
            (
                "eth_getLogs",
                [
                    {
                        "blockHash": "0x" + h.hex(),
                        "address": list(addresses),
                        "topics": [list(topics)],
                    }
                ],
            )
            for h in block_hashes
        ]
        results = self.batch(calls)
        if not all(isinstance(r, list) for r in results):
            raise RpcError("eth_getLogs by block hash returned a non-list")
        return results
