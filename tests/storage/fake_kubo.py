"""A FAKE Kubo RPC server for tests: the few endpoints KuboClient uses, served from an
:class:`EmbeddedBlockStore` on a free 127.0.0.1 port (no kubo binary exists here).

It speaks kubo's wire format (POST, query-string args, NDJSON/JSON answers, kubo-style
``{"Message", "Code", "Type"}`` errors with HTTP 500) and can misbehave on purpose:
``tamper_cat`` / ``truncate_cat`` / ``tamper_blocks`` / ``wrong_add_layout``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from urllib.parse import parse_qs, urlsplit

from storage.blockstore import EmbeddedBlockStore
from storage.cid import parse_cid
from storage.errors import BlockNotFoundError, InvalidCidError
from storage.importer import compute_cid


@dataclass
class FakeKuboState:
    """Shared by the handler threads: the store, switches for misbehaviour, and a log."""

    blobs: EmbeddedBlockStore
    tamper_cat: bool = False
    truncate_cat: bool = False
    tamper_blocks: bool = False
    wrong_add_layout: bool = False
    requests: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)


class FakeKubo:
    """Start/stop wrapper: ``url`` is the RPC API base (like ``http://127.0.0.1:5001``)."""

    def __init__(self, blobs: EmbeddedBlockStore) -> None:
        self.state = FakeKuboState(blobs)
        state = self.state

        class Handler(_Handler):
            fake = state

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeKubo:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKuboState
    body: Iterator[bytes]

    def log_message(self, format: str, *args: object) -> None:
        return None  # keep pytest output clean

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.fake.requests.append((url.path, params, dict(self.headers.items())))
        routes = {
            "/api/v0/add": self._add,
            "/api/v0/cat": self._cat,
            "/api/v0/block/get": self._block_get,
            "/api/v0/block/stat": self._block_stat,
            "/api/v0/pin/add": self._pin_add,
        }
        self.body = self._body()  # one iterator per request: parts read it, _drain finishes it
        route = routes.get(url.path)
        if route is None:
            self._drain()
            self._reply(404, b"404 page not found\n", "text/plain")
            return
        try:
            route(params)
        except BlockNotFoundError as exc:
            self._error(500, f"block was not found locally (offline): ipld: could not find {exc}")
        except InvalidCidError as exc:
            self._error(400, f"invalid path: {exc}")
        except (BrokenPipeError, ConnectionResetError):
            return  # the client hung up mid-answer (it refused tampered bytes): expected
        finally:
            self._drain()

    # -- endpoints -------------------------------------------------------------------------

    def _add(self, params: dict[str, str]) -> None:
        version = int(params.get("cid-version", "0"))
        raw_leaves = params.get("raw-leaves", "false") == "true"
        if params.get("chunker") != "size-262144" or raw_leaves != (version == 1):
            self._drain()
            self._error(400, "the fake only implements kubo's default layouts")
            return
        boundary = self.headers["Content-Type"].split("boundary=", 1)[1].encode()
        body = _file_part(self.body, boundary)
        result = self.fake.blobs.put(body, 1 if version else 0, pin=params.get("pin") == "true")
        self._drain()
        cid = result.cid
        if self.fake.wrong_add_layout:  # a node whose import defaults differ from ours
            cid = compute_cid([b"not", b"the", b"same"], 1 if version else 0)
        line = {"Name": "blob", "Hash": cid, "Size": str(result.size)}
        self._reply(200, json.dumps(line).encode() + b"\n", "application/x-ndjson")

    def _cat(self, params: dict[str, str]) -> None:
        chunks = self.fake.blobs.get(params["arg"])
        self._start(200, "text/plain")
        skip = int(params.get("offset", "0"))
        sent = 0
        for chunk in chunks:
            if skip >= len(chunk):
                skip -= len(chunk)
                continue
            data = bytearray(chunk[skip:])
            skip = 0
            if self.fake.tamper_cat and sent == 0:
                data[len(data) // 2] ^= 0x01
            if self.fake.truncate_cat:
                data = data[: len(data) // 2]
            self.wfile.write(data)
            sent += len(data)
            if self.fake.truncate_cat:
                break

    def _block_get(self, params: dict[str, str]) -> None:
        block = bytearray(self.fake.blobs.read_block(parse_cid(params["arg"])))
        if self.fake.tamper_blocks and block:
            block[-1] ^= 0x01
        self._reply(200, bytes(block), "application/octet-stream")

    def _block_stat(self, params: dict[str, str]) -> None:
        cid = parse_cid(params["arg"])
        block = self.fake.blobs.read_block(cid)
        self._json({"Key": str(cid), "Size": len(block)})

    def _pin_add(self, params: dict[str, str]) -> None:
        self.fake.blobs.pin(params["arg"])
        self._json({"Pins": [params["arg"]]})

    # -- HTTP plumbing ---------------------------------------------------------------------

    def _body(self) -> Iterator[bytes]:
        """The request body, de-chunked when sent with chunked transfer encoding."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            yield from _dechunk(self.rfile)
            return
        remaining = int(self.headers.get("Content-Length", "0"))
        while remaining:
            piece = self.rfile.read(min(remaining, 1 << 16))
            if not piece:
                return
            remaining -= len(piece)
            yield piece

    def _drain(self) -> None:
        for _ in self.body:
            pass

    def _start(self, status: int, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Connection", "close")
        self.end_headers()

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: object) -> None:
        self._reply(200, json.dumps(value).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        body = {"Message": message, "Code": 0, "Type": "error"}
        self._reply(status, json.dumps(body).encode(), "application/json")


def _dechunk(rfile: BufferedIOBase) -> Iterator[bytes]:
    while True:
        size = int(rfile.readline().split(b";")[0], 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return
        yield rfile.read(size)
        rfile.readline()  # CRLF after each chunk


def _file_part(body: Iterator[bytes], boundary: bytes) -> Iterator[bytes]:
    """Stream the content of the first part of a multipart body (no full buffering)."""
    buf = bytearray()
    while (end_of_headers := buf.find(b"\r\n\r\n")) < 0:
        buf += next(body)
    if not buf.startswith(b"--" + boundary):
        raise ValueError("multipart body does not start with its boundary")
    del buf[: end_of_headers + 4]
    closing = b"\r\n--" + boundary
    keep = len(closing) - 1  # bytes that could be the start of the closing delimiter
    for piece in body:
        buf += piece
        found = buf.find(closing)
        if found >= 0:
            yield bytes(buf[:found])
            return
        if len(buf) > keep:
            yield bytes(buf[:-keep])
            del buf[:-keep]
    found = buf.find(closing)
    if found < 0:
        raise ValueError("multipart body without its closing boundary")
    yield bytes(buf[:found])
