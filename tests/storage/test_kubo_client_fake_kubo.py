"""KuboClient against a FAKE Kubo RPC server (tests/storage/fake_kubo.py): no kubo binary
exists here, so the fake serves kubo's endpoints from our embedded store on 127.0.0.1."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.errors import PermanentError, RetryableError
from storage.base import BlobStore
from storage.blockstore import EmbeddedBlockStore
from storage.cid import CidVersion
from storage.errors import (
    BlockNotFoundError,
    ContentMismatchError,
    InvalidCidError,
    KuboUnavailableError,
)
from storage.importer import compute_cid
from storage.kubo import KuboClient
from tests.storage.conftest import CHUNK, counter_bytes, counter_stream
from tests.storage.fake_kubo import FakeKubo


@pytest.fixture
def fake_kubo(tmp_path: Path) -> Iterator[FakeKubo]:
    server = FakeKubo(EmbeddedBlockStore(tmp_path / "kubo", durable=False)).start()
    yield server
    server.stop()


@pytest.fixture
def client(fake_kubo: FakeKubo) -> Iterator[KuboClient]:
    with KuboClient(fake_kubo.url, timeout=10) as kubo:
        yield kubo


def _read(blobs: BlobStore, cid: str) -> bytes:
    return b"".join(blobs.get(cid))


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 77])
def test_fake_kubo_round_trip(client: KuboClient, size: int, version: CidVersion) -> None:
    # Given a payload uploaded through /api/v0/add
    data = counter_bytes(size)
    result = client.put([data], version)
    # Then the CID is kubo's, and get returns the bytes (verified on the way)
    assert result.cid == compute_cid([data], version)
    assert (result.size, result.sha256) == (size, hashlib.sha256(data).hexdigest())
    assert _read(client, result.cid) == data


def test_fake_kubo_two_level_dag_streamed(client: KuboClient, tmp_path: Path) -> None:
    # Given 175 chunks + 1 byte streamed from a generator
    size = 175 * CHUNK + 1
    result = client.put(counter_stream(size))
    # Then kubo and the embedded store agree on the CID and the bytes round-trip
    local = EmbeddedBlockStore(tmp_path / "local", durable=False).put(counter_stream(size))
    assert result == local
    digest = hashlib.sha256()
    for chunk in client.get(result.cid):
        digest.update(chunk)
    assert digest.hexdigest() == result.sha256


def test_fake_kubo_add_is_streamed_with_kubo_parameters(
    client: KuboClient, fake_kubo: FakeKubo
) -> None:
    client.put(counter_stream(2 * CHUNK), 1, pin=True)
    path, params, headers = fake_kubo.state.requests[-1]
    assert path == "/api/v0/add"
    assert params["cid-version"] == "1" and params["raw-leaves"] == "true"
    assert params["chunker"] == "size-262144" and params["pin"] == "true"
    assert headers.get("Transfer-Encoding") == "chunked"  # never buffered whole
    assert headers["Content-Type"].startswith("multipart/form-data; boundary=")


def test_fake_kubo_v1_file_reads_leaves_from_cat(client: KuboClient, fake_kubo: FakeKubo) -> None:
    result = client.put([counter_bytes(3 * CHUNK)])
    fake_kubo.state.requests.clear()
    _read(client, result.cid)
    paths = [path for path, _, _ in fake_kubo.state.requests]
    assert paths == ["/api/v0/block/get", "/api/v0/cat"]  # root node, then one stream


def test_fake_kubo_has_and_pin(client: KuboClient, fake_kubo: FakeKubo) -> None:
    # Given one stored file and one absent CID
    result = client.put([b"pin me"])
    absent = compute_cid([b"absent"])
    # Then has answers from the node without asking the network
    assert client.has(result.cid) is True
    assert client.has(absent) is False
    assert fake_kubo.state.requests[-1][1]["offline"] == "true"
    # And pin records the pin on the node; pinning the absent CID fails
    client.pin(result.cid)
    assert fake_kubo.state.blobs.is_pinned(result.cid)
    with pytest.raises(BlockNotFoundError):
        client.pin(absent)


def test_fake_kubo_tampered_cat_raises_content_mismatch(
    client: KuboClient, fake_kubo: FakeKubo
) -> None:
    # Given a node that serves tampered bytes from /cat
    result = client.put([counter_bytes(3 * CHUNK)])
    fake_kubo.state.tamper_cat = True
    # When the file is read, Then nothing from the bad leaf is yielded
    chunks = client.get(result.cid)
    with pytest.raises(ContentMismatchError):
        next(chunks)


def test_fake_kubo_truncated_cat_raises_content_mismatch(
    client: KuboClient, fake_kubo: FakeKubo
) -> None:
    result = client.put([counter_bytes(2 * CHUNK + 5)])
    fake_kubo.state.truncate_cat = True
    with pytest.raises(ContentMismatchError):
        _read(client, result.cid)


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("size", [5, 3 * CHUNK])
def test_fake_kubo_tampered_blocks_raise_content_mismatch(
    client: KuboClient, fake_kubo: FakeKubo, version: CidVersion, size: int
) -> None:
    result = client.put([counter_bytes(size)], version)
    fake_kubo.state.tamper_blocks = True
    with pytest.raises(ContentMismatchError):
        _read(client, result.cid)


def test_fake_kubo_answering_another_cid_fails_the_put(
    client: KuboClient, fake_kubo: FakeKubo
) -> None:
    # Given a node whose import settings differ (it answers a CID we did not compute)
    fake_kubo.state.wrong_add_layout = True
    with pytest.raises(ContentMismatchError, match="import settings"):
        client.put([counter_bytes(CHUNK + 1)])


def test_fake_kubo_missing_content(client: KuboClient) -> None:
    with pytest.raises(BlockNotFoundError):
        _read(client, compute_cid([b"never added"]))
    with pytest.raises(InvalidCidError):
        client.get("not-a-cid")


def test_fake_kubo_unknown_endpoint_is_permanent(fake_kubo: FakeKubo) -> None:
    with KuboClient(fake_kubo.url + "/nope", timeout=5) as bad, pytest.raises(PermanentError):
        bad.pin(compute_cid([b"x"]))


def test_unreachable_node_is_retryable() -> None:
    # Given a port where nothing listens (bound, never accepted)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with KuboClient(url, timeout=2) as kubo, pytest.raises(KuboUnavailableError) as raised:
            kubo.has(compute_cid([b"x"]))
    assert isinstance(raised.value, RetryableError)
