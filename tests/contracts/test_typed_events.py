"""The typed events are generated from the committed ABIs and read the stored form exactly."""

from __future__ import annotations

import dataclasses

from eth_utils.address import to_checksum_address

from contracts import events
from contracts.codegen import TARGET, generate, platform_events


def test_committed_events_module_matches_a_fresh_generation() -> None:
    # Given the committed ABIs, when the module is generated again, then nothing differs
    # (a renamed Solidity parameter must come with a regenerated, reviewed module).
    assert TARGET.read_text() == generate(), "stale contracts/events.py: run `make contracts`"


def test_every_platform_event_has_a_class_with_snake_case_fields() -> None:
    for event in platform_events():
        cls = events.EVENT_TYPES[event.name]
        assert cls.event_name == event.name
        fields = [f.name for f in dataclasses.fields(cls)]
        assert fields == [f.name for f in event.fields]
        assert all(name == name.lower() for name in fields)


def test_from_args_reads_the_stored_json_form() -> None:
    # Given a Purchased event as the event store keeps it (ABI names, decimal strings,
    # lowercase hex), when it is typed, then every field has its Python type.
    buyer = "0x" + "ab" * 20
    stored = {
        "datasetId": str(2**256 - 1),
        "buyer": buyer,
        "provider": "0x" + "0c" * 20,
        "price": "10",
        "fee": "1",
        "expiresAt": "0",
    }
    event = events.typed_event("Purchased", stored)
    assert isinstance(event, events.Purchased)
    assert event.dataset_id == 2**256 - 1
    assert event.buyer == str(to_checksum_address(buyer))
    assert event.expires_at == 0
    # ... and to_json gives clients snake_case names with uint256 kept exact.
    assert event.to_json() == {
        "dataset_id": str(2**256 - 1),
        "buyer": to_checksum_address(buyer),
        "provider": to_checksum_address("0x" + "0c" * 20),
        "price": "10",
        "fee": "1",
        "expires_at": "0",
    }


def test_bytes_and_keyword_names() -> None:
    listed = events.typed_event(
        "DatasetListed",
        {
            "datasetId": "1",
            "provider": "0x" + "01" * 20,
            "price": "5",
            "accessDuration": "0",
            "metadataCid": "bafy",
            "contentHash": "0x" + "ff" * 32,
            "category": "tabular",
        },
    )
    assert isinstance(listed, events.DatasetListed)
    assert listed.content_hash == b"\xff" * 32
    assert listed.to_json()["content_hash"] == "0x" + "ff" * 32
    transfer = events.Transfer.from_args(
        {"from": "0x" + "00" * 20, "to": "0x" + "01" * 20, "value": "3"}
    )
    assert transfer.from_ == "0x" + "00" * 20
    assert transfer.to_json()["from"] == transfer.from_
