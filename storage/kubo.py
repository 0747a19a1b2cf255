"""Kubo (go-ipfs) RPC client: the production :class:`~storage.base.BlobStore`.

* ``put``: ``POST /api/v0/add`` with a multipart body streamed from the source (chunked
  transfer encoding, never the whole file in memory) and kubo's default layout pinned down
  explicitly (``chunker=size-262144``, ``raw-leaves`` = CIDv1). The CID is also computed
  locally while streaming; if kubo answers another one (a node configured with other import
  defaults) the put fails with :class:`ContentMismatchError` instead of handing out a CID
  the embedded store would disagree with.
* ``get``: the DAG's dag-pb nodes come from ``/api/v0/block/get`` and are verified against
  their CIDs; the raw leaves' bytes come from a single ``/api/v0/cat`` stream, cut at the
  leaf sizes the verified parents give and each hashed against its leaf CID *before* it is
  yielded. A node that serves tampered or truncated bytes raises ContentMismatchError.
* ``pin``: ``/api/v0/pin/add``; ``has``: ``/api/v0/block/stat`` with ``offline=true`` (so
  a missing block answers "not found" instead of being searched for on the network).
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, BinaryIO

import httpx
import structlog
from multiformats import CID

from storage.base import PutResult
from storage.cid import CidVersion, parse_cid
from storage.errors import (
    BlockNotFoundError,
    ContentMismatchError,
    KuboRequestError,
    KuboUnavailableError,
)
from storage.importer import CHUNK_SIZE, FileImporter, iter_source, rechunk
from storage.reader import RawLeaf, check_raw_leaf, iter_segments

log = structlog.get_logger(__name__)


class KuboClient:
    """A :class:`~storage.base.BlobStore` backed by a Kubo node's RPC API (``:5001``)."""

    def __init__(
        self, api_url: str, *, timeout: float = 60.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.api_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> KuboClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- BlobStore -------------------------------------------------------------------------

    def put(
        self, stream: BinaryIO | Iterable[bytes], cid_version: CidVersion = 1, *, pin: bool = False
    ) -> PutResult:
        """Upload ``stream`` with ``ipfs add`` and check kubo's CID against our own."""
        importer = FileImporter(cid_version)

        def chunks() -> Iterator[bytes]:
            for chunk in rechunk(iter_source(stream), CHUNK_SIZE):
                importer.add(chunk)
                yield chunk

        boundary = secrets.token_hex(16)
        params = {
            "cid-version": str(cid_version),
            "raw-leaves": _flag(cid_version == 1),
            "chunker": f"size-{CHUNK_SIZE}",
            "hash": "sha2-256",
            "pin": _flag(pin),
            "progress": "false",
        }
        response = self._post(
            "/api/v0/add",
            params,
            content=_multipart(boundary, chunks()),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        kubo_cid = _added_hash(response.text)
        local = importer.finish()
        if parse_cid(kubo_cid) != local.root.cid:
            raise ContentMismatchError(
                f"kubo stored the upload as {kubo_cid}, expected {local.root.cid}: "
                "the node's import settings differ from kubo's defaults"
            )
        log.info("storage.kubo.put", cid=kubo_cid, size=local.size, pinned=pin)
        return PutResult(cid=str(local.root.cid), size=local.size, sha256=local.sha256)

    def get(self, cid: str) -> Iterator[bytes]:
        """Stream the file, each block verified before it is yielded (errors while iterating)."""
        return self._iter_verified(parse_cid(cid))

    def pin(self, cid: str) -> None:
        """Pin ``cid`` recursively on the node (fetching what it lacks)."""
        self._post("/api/v0/pin/add", {"arg": str(parse_cid(cid)), "progress": "false"})
        log.info("storage.kubo.pinned", cid=cid)

    def has(self, cid: str) -> bool:
        """Whether the node holds the root block locally (never asks the network)."""
        params = {"arg": str(parse_cid(cid)), "offline": "true"}
        try:
            self._post("/api/v0/block/stat", params)
        except BlockNotFoundError:
            return False
        return True

    # -- internals -------------------------------------------------------------------------

    def _iter_verified(self, root: CID) -> Iterator[bytes]:
        with contextlib.ExitStack() as stack:
            cat: _ExactReader | None = None
            offset = 0
            for segment in iter_segments(root, self._block_get):
                if isinstance(segment, RawLeaf):
                    if cat is None:  # opened lazily: a CIDv0 file never needs it
                        pieces = stack.enter_context(self._cat(root, offset))
                        cat = _ExactReader(pieces)
                    data = check_raw_leaf(segment, cat.read(segment.size))
                else:  # verified data inside a dag-pb node: /cat must agree once opened
                    data = segment
                    if cat is not None and cat.read(len(data)) != data:
                        raise ContentMismatchError(f"/cat of {root} disagrees at byte {offset}")
                offset += len(data)
                if data:
                    yield data
            if cat is not None and cat.read(1):
                raise ContentMismatchError(f"/cat of {root} returned more than {offset} bytes")

    @contextlib.contextmanager
    def _cat(self, root: CID, offset: int) -> Iterator[Iterator[bytes]]:
        params = {"arg": str(root), "offset": str(offset), "progress": "false"}
        try:
            with self._http.stream("POST", "/api/v0/cat", params=params) as response:
                if response.status_code >= 300:
                    response.read()
                    _raise_for_status(response)
                yield _translate(response.iter_bytes(CHUNK_SIZE))
        except httpx.TransportError as exc:
            raise KuboUnavailableError(f"kubo /cat: {exc}") from exc

    def _block_get(self, cid: CID) -> bytes:
        return self._post("/api/v0/block/get", {"arg": str(cid)}).content

    def _post(self, path: str, params: dict[str, str], **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.post(path, params=params, **kwargs)
        except httpx.TransportError as exc:
            raise KuboUnavailableError(f"kubo {path}: {exc}") from exc
        _raise_for_status(response)
        return response


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _multipart(boundary: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """One ``file`` part of a multipart/form-data body, streamed."""
    yield (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="blob"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    yield from chunks
    yield f"\r\n--{boundary}--\r\n".encode()


def _added_hash(body: str) -> str:
    """The root ``Hash`` of an ``/add`` answer (NDJSON: one object per added entry)."""
    try:
        entries = [json.loads(line) for line in body.splitlines() if line.strip()]
    except ValueError as exc:
        raise KuboRequestError(f"kubo /add answered non-JSON: {body[:200]!r}") from exc
    hashes = [entry["Hash"] for entry in entries if isinstance(entry, dict) and "Hash" in entry]
    if not hashes:
        raise KuboRequestError(f"kubo /add answered without a Hash: {body[:200]!r}")
    return str(hashes[-1])


def _translate(pieces: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from pieces
    except httpx.TransportError as exc:
        raise KuboUnavailableError(f"kubo /cat stream broke: {exc}") from exc


def _raise_for_status(response: httpx.Response) -> None:
    """Map kubo's errors: ``{"Message": ..., "Code": ..., "Type": "error"}`` bodies."""
    status = response.status_code
    if status < 300:
        return
    try:
        message = str(json.loads(response.text).get("Message", ""))
    except (ValueError, AttributeError):
        message = ""
    where = response.request.url.path
    detail = f"kubo {where} -> {status}: {message or response.text[:200]}"
    # kubo answers 500 for a missing block (offline lookups, block/get, pin/add, ...).
    if message and "not found" in message.lower():
        raise BlockNotFoundError(detail)
    if status == 429 or status >= 500:
        raise KuboUnavailableError(detail)
    raise KuboRequestError(detail)


class _ExactReader:
    """Reads exactly ``n`` bytes at a time from a stream of pieces (fewer only at its end)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._buf = bytearray()

    def read(self, n: int) -> bytes:
        while len(self._buf) < n:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._buf += piece
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out
