"""Hostile uploads (issue 13): authentication before the body is read, every form field
bounded as the contract bounds it, hostile tables refused — and nothing stored or pinned on
any rejection (the block directory is compared file by file before and after)."""

from __future__ import annotations

import io
import json
import os
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from storage.blockstore import EmbeddedBlockStore
from tests.api.conftest import Server, World
from tests.api.test_uploads import FORM, iris_csv, sign_in

MIB = 2**20
UINT256_MAX = 2**256 - 1
UINT64_MAX = 2**64 - 1
BOUNDARY = "hostile-boundary-7f3a"


@dataclass(frozen=True)
class Snapshot:
    """Every file under the block store (blocks and pins) and the data directory's entries."""

    blocks: frozenset[str]
    data_dir: frozenset[str]


def snapshot(world: World) -> Snapshot:
    root = world.settings.blocks_dir
    files = frozenset(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []
    return Snapshot(frozenset(files), frozenset(os.listdir(world.settings.data_dir)))


@pytest.fixture
def nothing_stored(world: World) -> Iterator[None]:
    """Fails the test when anything was added to the block store or left in the data dir."""
    before = snapshot(world)
    yield
    assert snapshot(world) == before


@pytest.fixture(scope="module")
def provider(client: TestClient, world: World) -> dict[str, str]:
    return sign_in(client, world, 2)


def multipart(fields: dict[str, str], filename: bytes, content: bytes) -> bytes:
    """A multipart/form-data body built by hand, so filenames go on the wire byte for byte."""
    out = b""
    for name, value in fields.items():
        out += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    out += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
        + filename
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return out


def post_raw(client: TestClient, headers: dict[str, str], body: bytes) -> Any:
    kind = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return client.post("/uploads", content=body, headers={**headers, **kind})


def stored_document(world: World, metadata_cid: str) -> dict[str, Any]:
    blobs = EmbeddedBlockStore(world.settings.blocks_dir)
    doc: dict[str, Any] = orjson.loads(b"".join(blobs.get(metadata_cid)))
    return doc


# -- authentication and size before the body -------------------------------------------------


@dataclass(frozen=True)
class RawReply:
    status: int
    sent: int


def stream_upload(server: Server, headers: dict[str, str], total: int, chunked: bool) -> RawReply:
    """POST a `total`-byte multipart body over a raw socket, stopping as soon as the server
    answers; returns the status and how many body bytes were sent by then."""
    url = urlsplit(server.url)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    # a small send buffer so "sent" is close to what the server has been offered
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = (
        f"POST /uploads HTTP/1.1\r\nHost: {url.netloc}\r\n{framing}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    )
    preamble = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
    ).encode()
    piece = preamble + b"1" * (64 * 1024 - len(preamble))
    sent = 0
    try:
        sock.sendall(head.encode())
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 30)
            if readable:
                break
            if writable:
                data = piece if sent == 0 else b"1" * min(64 * 1024, total - sent)
                data = data[: total - sent]
                sock.sendall(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data)
                sent += len(data)
        if chunked and sent >= total:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed: read what it said
    reply = b""
    while b"\r\n" not in reply:
        data = sock.recv(4096)
        if not data:
            break
        reply += data
    sock.close()
    return RawReply(status=int(reply.split(b" ", 2)[1]), sent=sent)


def test_unauthenticated_body_is_not_read(
    server: Server, world: World, nothing_stored: None
) -> None:
    reply = stream_upload(server, {}, 50 * MIB, chunked=False)
    assert reply.status == 401
    # the 401 came while the client was still sending: the body was never consumed
    assert reply.sent < 10 * MIB, reply


def test_bad_token_is_refused_before_the_body(
    server: Server, world: World, nothing_stored: None
) -> None:
    reply = stream_upload(server, {"Authorization": "Bearer nope"}, 50 * MIB, chunked=False)
    assert reply.status == 401 and reply.sent < 10 * MIB, reply


def test_declared_oversize_is_refused_before_the_body(
    server: Server, world: World, provider: dict[str, str], nothing_stored: None
) -> None:
    reply = stream_upload(server, provider, 50 * MIB, chunked=False)
    assert reply.status == 413 and reply.sent < 10 * MIB, reply


def test_chunked_oversize_stops_at_the_limit(
    server: Server, world: World, provider: dict[str, str], nothing_stored: None
) -> None:
    # no Content-Length: only counting while streaming can stop it (limit: 2 MiB)
    reply = stream_upload(server, provider, 50 * MIB, chunked=True)
    assert reply.status == 413 and reply.sent < 10 * MIB, reply


# -- form fields: exactly the contract's bounds -----------------------------------------------


def test_contract_bounds_match(world: World) -> None:
    from api.upload_form import MAX_CATEGORY_BYTES, MAX_CID_BYTES

    market = world.platform.client.contract("Marketplace")
    assert market.functions.MAX_CATEGORY_LENGTH().call() == MAX_CATEGORY_BYTES
    assert market.functions.MAX_CID_LENGTH().call() == MAX_CID_BYTES


def test_fields_at_the_limit_list_on_chain(
    client: TestClient, world: World, provider: dict[str, str]
) -> None:
    form = {
        **FORM,
        "category": "é" * 16,
        "price": str(UINT256_MAX),
        "access_duration": str(UINT64_MAX),
        "title": "t" * 200,
    }
    reply = client.post(
        "/uploads", data=form, files={"file": ("i.csv", iris_csv(5))}, headers=provider
    )
    assert reply.status_code == 201, reply.text
    listing = reply.json()["listing"]
    w3 = world.platform.client.w3
    sender = world.platform.account(2).account
    tx = sender.sign_transaction(
        {
            "to": listing["to"],
            "data": listing["data"],
            "gas": 600_000,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 10**9,
            "chainId": 31337,
            "nonce": w3.eth.get_transaction_count(sender.address),
        }
    )
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(tx.raw_transaction))
    assert receipt["status"] == 1
    market = world.platform.client.contract("Marketplace")
    listed = market.functions.getDataset(market.functions.datasetCount().call()).call()
    assert "é" * 16 in listed and UINT256_MAX in listed and UINT64_MAX in listed


OVER_THE_LIMIT = {
    "category 32 characters, 64 bytes": {"category": "é" * 32},
    "category 33 bytes": {"category": "é" * 16 + "a"},
    "category empty": {"category": ""},
    "price 2^256": {"price": str(2**256)},
    "price negative": {"price": "-1"},
    "price not a number": {"price": "1e18"},
    "duration 2^64": {"access_duration": str(2**64)},
    "duration negative": {"access_duration": "-1"},
    "title 201 characters": {"title": "t" * 201},
    "title empty": {"title": ""},
    "preview_rows over the bound": {"preview_rows": "101"},
    "preview_rows negative": {"preview_rows": "-1"},
    "preview_rows not a number": {"preview_rows": "ten"},
}


@pytest.mark.parametrize("change", OVER_THE_LIMIT.values(), ids=OVER_THE_LIMIT.keys())
def test_fields_over_the_limit_are_400(
    client: TestClient, provider: dict[str, str], change: dict[str, str], nothing_stored: None
) -> None:
    reply = client.post(
        "/uploads",
        data={**FORM, **change},
        files={"file": ("i.csv", iris_csv(5))},
        headers=provider,
    )
    assert reply.status_code == 400, reply.text
    assert next(iter(change)) in reply.json()["detail"]


# -- filenames -----------------------------------------------------------------------------------


KEPT_NAMES = {
    "windows traversal": (b"..\\..\\x.csv", "x.csv"),
    "posix traversal": (b"../../etc/x.csv", "x.csv"),
    "control characters and NUL": (b"a\x01b\x00c\x7f\x1b.csv", "abc.csv"),
    "255 bytes": (("é" * 125 + "a.csv").encode(), "é" * 125 + "a.csv"),
}


@pytest.mark.parametrize("sent,kept", KEPT_NAMES.values(), ids=KEPT_NAMES.keys())
def test_filenames_keep_a_sanitised_base_name(
    client: TestClient, world: World, provider: dict[str, str], sent: bytes, kept: str
) -> None:
    reply = post_raw(client, provider, multipart(FORM, sent, iris_csv(3)))
    assert reply.status_code == 201, reply.text
    assert stored_document(world, reply.json()["metadata_cid"])["filename"] == kept


BAD_NAMES = {
    "300 characters": (b"a" * 296 + b".csv", 400),
    "256 bytes in 130 characters": (("é" * 126 + ".csv").encode(), 400),
    "only separators": (b"..\\", 415),
    "extension hidden behind a separator": (b"x.csv/evil", 415),
}


@pytest.mark.parametrize("sent,status", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_filenames_are_refused(
    client: TestClient, provider: dict[str, str], sent: bytes, status: int, nothing_stored: None
) -> None:
    reply = post_raw(client, provider, multipart(FORM, sent, iris_csv(3)))
    assert reply.status_code == status, reply.text
    assert reply.json()["detail"]


# -- table content -------------------------------------------------------------------------------


def parquet_bytes(table: pa.Table, **options: Any) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


def plain_bomb(path: Path) -> None:
    """300 MiB of zeros in one binary column, plain-encoded and zstd-compressed: the footer
    says how big it is."""
    schema = pa.schema([("z", pa.binary())])
    with pq.ParquetWriter(path, schema, compression="zstd", use_dictionary=False) as writer:
        for _ in range(30):
            writer.write_table(pa.table({"z": [b"\0" * MIB] * 10}, schema=schema))


def dictionary_bomb(path: Path) -> None:
    """One 1 MiB value repeated 300 times: the file holds it once (dictionary page), the
    footer's uncompressed size is ~1 MiB, and reading it plainly materialises 300 MiB."""
    column = pa.DictionaryArray.from_arrays(
        pa.array([0] * 300, pa.int32()), pa.array([b"\0" * MIB])
    )
    # store_schema=False: no Arrow schema in the footer telling pyarrow to keep the dictionary
    pq.write_table(pa.table({"z": column}), path, compression="zstd", store_schema=False)


BOMBS = {"plain": plain_bomb, "dictionary": dictionary_bomb}


@pytest.mark.parametrize("make", BOMBS.values(), ids=BOMBS.keys())
def test_parquet_bombs_are_413(
    client: TestClient, provider: dict[str, str], tmp_path: Path, make: Any, nothing_stored: None
) -> None:
    make(tmp_path / "bomb.parquet")
    data = (tmp_path / "bomb.parquet").read_bytes()
    assert len(data) < 100 * 1024
    reply = client.post(
        "/uploads", data=FORM, files={"file": ("b.parquet", data)}, headers=provider
    )
    assert reply.status_code == 413, reply.text
    assert "decompress" in reply.json()["detail"]


MEASURE = """
import io, json, resource, sys
from pathlib import Path
import pyarrow as pa, pyarrow.parquet as pq
from api.profile import UploadRejectedError
from api.routers.uploads import store_upload
from common.settings import Settings
from storage.open import open_keyring, open_blobs

settings = Settings(data_dir=Path(sys.argv[2]), upload_max_bytes=2 * 2**20)
blobs, keyring = open_blobs(settings), open_keyring(settings)
fields = {"title": "t", "category": "c", "description": "", "tags": [], "license": None}
def upload(data):
    try:
        store_upload(
            settings=settings, blobs=blobs, keyring=keyring, source=io.BytesIO(data),
            filename="b.parquet", fields=fields, encrypted=False,
        )
        return 201
    except UploadRejectedError as exc:
        return exc.status
small = io.BytesIO(); pq.write_table(pa.table({"z": [b"x" * 100] * 1000}), small)
warm = upload(small.getvalue())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
status = upload(Path(sys.argv[1]).read_bytes())
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"warm": warm, "status": status, "grew_kib": after - before}))
"""


@pytest.mark.parametrize("make", BOMBS.values(), ids=BOMBS.keys())
def test_parquet_bomb_memory_is_bounded(tmp_path: Path, make: Any) -> None:
    make(tmp_path / "bomb.parquet")
    (tmp_path / "data").mkdir()
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path / "bomb.parquet"), str(tmp_path / "data")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert run.returncode == 0, run.stderr
    measured = json.loads(run.stdout.splitlines()[-1])  # after any log lines
    assert measured["warm"] == 201 and measured["status"] == 413, measured
    assert measured["grew_kib"] < 64 * 1024, measured


def test_a_large_honest_parquet_is_accepted(client: TestClient, provider: dict[str, str]) -> None:
    # 200k rows of varied strings and numbers: well under the decoded-size bound
    table = pa.table({"n": list(range(200_000)), "s": [f"row {i}" for i in range(200_000)]})
    data = parquet_bytes(table, compression="zstd")
    reply = client.post(
        "/uploads", data=FORM, files={"file": ("ok.parquet", data)}, headers=provider
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["rows"] == 200_000
    assert [c["type"] for c in reply.json()["columns"]] == ["int64", "string"]


# (JSON Lines with the same column is read by pyarrow as `double`: lossy, but no crash)
HOSTILE_TABLES = {
    "json uint64 max and -1 in one column": ("o.json", b'[{"a": 18446744073709551615}, {"a": -1}]'),
    "json uint64 max and -1 nested": ("n.json", b'[{"a": [18446744073709551615, -1]}]'),
}


@pytest.mark.parametrize("filename,data", HOSTILE_TABLES.values(), ids=HOSTILE_TABLES.keys())
def test_hostile_tables_are_400(
    client: TestClient, provider: dict[str, str], filename: str, data: bytes, nothing_stored: None
) -> None:
    reply = client.post("/uploads", data=FORM, files={"file": (filename, data)}, headers=provider)
    assert reply.status_code == 400, reply.text
    assert reply.json()["detail"]


INVALID_UTF8 = {
    "csv": ("u.csv", b"name,n\nab\xffc,1\n", "offset 9", "line 2"),
    "csv truncated at the end": ("t.csv", b"name\nok\n\xc3", "offset 8", "line 3"),
    "jsonl": ("u.jsonl", b'{"a": "x"}\n{"a": "\xc3\x28"}\n', "offset 18", "line 2"),
    "json": ("u.json", b'[{"a": "\xed\xa0\x80"}]', "offset 8", "line 1"),
}


@pytest.mark.parametrize(
    "filename,data,offset,line", INVALID_UTF8.values(), ids=INVALID_UTF8.keys()
)
def test_invalid_utf8_is_400_naming_where(
    client: TestClient,
    provider: dict[str, str],
    filename: str,
    data: bytes,
    offset: str,
    line: str,
    nothing_stored: None,
) -> None:
    reply = client.post("/uploads", data=FORM, files={"file": (filename, data)}, headers=provider)
    assert reply.status_code == 400, reply.text
    detail = reply.json()["detail"]
    assert "UTF-8" in detail and offset in detail and line in detail, detail
