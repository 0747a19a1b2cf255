"""The fast decoder agrees with eth-abi on every platform event, valid or not."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.artifacts import EVENT_CONTRACTS, load_artifact
from indexer.decode import DecodeError, EventDecoder, EventSpec, event_specs, reference_decode

ADDRESSES = {name: "0x" + f"{i + 1:040x}" for i, name in enumerate(EVENT_CONTRACTS)}
SPECS: list[tuple[str, EventSpec]] = [
    (name, spec) for name in EVENT_CONTRACTS for spec in event_specs(load_artifact(name)["abi"])
]


def value_for(abi_type: str) -> st.SearchStrategy[Any]:
    if abi_type.endswith("[]"):  # a proposal's targets, values, signatures, calldatas
        return st.lists(value_for(abi_type[:-2]), max_size=3)
    if abi_type.startswith("uint"):
        return st.integers(0, 2 ** int(abi_type[4:] or 256) - 1)
    if abi_type.startswith("int"):
        bits = int(abi_type[3:] or 256)
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if abi_type == "address":
        return st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
    if abi_type == "bool":
        return st.booleans()
    if abi_type == "string":
        return st.text(max_size=80)
    if abi_type == "bytes":
        return st.binary(max_size=80)
    if abi_type.startswith("bytes"):
        size = int(abi_type[5:])
        return st.binary(min_size=size, max_size=size)
    raise AssertionError(abi_type)


@st.composite
def encoded_log(draw: st.DrawFn) -> tuple[str, EventSpec, dict[str, Any]]:
    contract, spec = draw(st.sampled_from(SPECS))
    values = [draw(value_for(p.type)) for p in spec.params]
    topics = [spec.topic0]
    data_types, data_values = [], []
    for p, v in zip(spec.params, values, strict=True):
        if p.indexed:
            topics.append("0x" + encode([p.type], [v]).hex())
        else:
            data_types.append(p.type)
            data_values.append(v)
    raw = {
        "address": ADDRESSES[contract],
        "topics": topics,
        "data": "0x" + encode(data_types, data_values).hex(),
    }
    return contract, spec, raw


@settings(max_examples=400, deadline=None)
@given(encoded_log())
def test_fast_path_equals_eth_abi_on_valid_logs(
    case: tuple[str, EventSpec, dict[str, Any]],
) -> None:
    _, spec, raw = case
    name, args = EventDecoder(ADDRESSES).decode(raw)
    assert name == spec.name
    assert args == reference_decode(spec, raw["topics"], raw["data"])


@settings(max_examples=400, deadline=None)
@given(encoded_log(), st.data())
def test_fast_path_never_accepts_what_eth_abi_rejects(
    case: tuple[str, EventSpec, dict[str, Any]], data: st.DataObject
) -> None:
    # Given a valid log with some bytes of its data corrupted or cut
    _, spec, raw = case
    body = bytearray(bytes.fromhex(raw["data"][2:]))
    if body:
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(body) - 1))
            body[i] = data.draw(st.integers(0, 255))
        body = body[: data.draw(st.integers(0, len(body)))]
    raw = {**raw, "data": "0x" + body.hex()}
    # Then both decoders agree: the same arguments, or both refuse
    try:
        expected = reference_decode(spec, raw["topics"], raw["data"])
    except DecodeError:
        with pytest.raises(DecodeError):
            EventDecoder(ADDRESSES).decode(raw)
        return
    assert EventDecoder(ADDRESSES).decode(raw)[1] == expected


def test_unknown_event_and_wrong_topic_count_are_decode_errors() -> None:
    decoder = EventDecoder(ADDRESSES)
    with pytest.raises(DecodeError, match="unknown event"):
        decoder.decode(
            {"address": ADDRESSES["Marketplace"], "topics": ["0x" + "ab" * 32], "data": "0x"}
        )
    transfer = next(s for c, s in SPECS if s.name == "Transfer" and c == "DataCoin")
    with pytest.raises(DecodeError, match="topics"):
        decoder.decode(
            {
                "address": ADDRESSES["DataCoin"],
                "topics": [transfer.topic0],
                "data": "0x" + "00" * 32,
            }
        )


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (b"bafy\x00evil", "bafy\ufffdevil"),  # NUL: PostgreSQL cannot store it
        (b"caf\xc3\xa9 \xff\xfe", "caf\u00e9 \ufffd\ufffd"),  # not UTF-8 after the accent
        (b"plain", "plain"),
    ],
)
def test_a_string_that_postgres_cannot_store_is_kept_with_replacement_characters(
    sent: bytes, stored: str
) -> None:
    # Given a ProfileUpdated log whose `cid` (an ABI string) holds a NUL or invalid UTF-8
    (spec,) = [s for name, s in SPECS if name == "Profiles" and s.name == "ProfileUpdated"]
    account = "0x" + "ab" * 20
    raw: dict[str, Any] = {
        "address": ADDRESSES["Profiles"],
        "topics": [spec.topic0, "0x" + encode(["address"], [account]).hex()],
        "data": "0x" + encode(["bytes"], [sent]).hex(),  # a string's encoding is a bytes'
    }
    # Then both decoders keep the event, the string with U+FFFD for what cannot be stored
    name, args = EventDecoder(ADDRESSES).decode(raw)
    assert name == "ProfileUpdated"
    assert args["cid"] == stored
    assert reference_decode(spec, raw["topics"], raw["data"]) == args
