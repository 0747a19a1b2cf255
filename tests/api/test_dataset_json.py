"""GET /datasets renders rows with orjson, not pydantic: the bytes must be the model's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from api.routers.datasets import dataset_item
from api.schemas import Dataset, DatasetPage

BIG = str(2**256 - 1)


def row(**changes: Any) -> dict[str, Any]:
    """A row of the datasets SELECT (uint256 columns already text, as PostgreSQL sends them)."""
    base: dict[str, Any] = {
        "chain_id": 31337,
        "dataset_id": "7",
        "provider": bytes.fromhex("11" * 20),
        "price": "1000000000000000000",
        "access_duration": 0,
        "metadata_cid": "bafy-7",
        "content_hash": b"\x01" * 32,
        "title": "Iris",
        "description": "Fisher's iris",
        "category": "tabular",
        "format": "csv",
        "rows": 150,
        "columns": 5,
        "purchases": 2,
        "rating_sum": 7,
        "rating_count": 3,
        "status": "listed",
        "listed_at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "block_number": 12,
        "finalized": True,
        "listed_block": 10,
    }
    return {**base, **changes}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        # a listing whose metadata was not fetched yet (LEFT JOIN misses)
        {"title": None, "description": None, "format": None, "rows": None, "columns": None},
        {"rating_sum": 0, "rating_count": 0},  # no rating yet: null, not 0
        {"rating_sum": 10, "rating_count": 2},  # a whole mean stays a float (5.0)
        {"dataset_id": BIG, "price": BIG},  # uint256 extremes as decimal strings
        {"title": 'Ünïcode "quoted" \\ \n\t\x01 ✓', "description": "\u2028 line sep"},
        {"listed_at": datetime(2024, 1, 2, 3, 4, 5, 120, tzinfo=UTC)},  # microseconds
        {"listed_at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))},
        {"finalized": False, "status": "delisted", "access_duration": 86_400},
    ],
)
def test_dataset_item_serialises_exactly_like_the_model(changes: dict[str, Any]) -> None:
    # Given a row, when it is rendered the fast way
    item = dataset_item(row(**changes))
    fast = orjson.dumps({"items": [item], "next_cursor": "abc"}, option=orjson.OPT_UTC_Z)
    # Then it has the model's fields in the model's order, validates, and the bytes are
    # those pydantic would have written for the same page
    assert list(item) == list(Dataset.model_fields)
    page = DatasetPage(items=[Dataset.model_validate(item)], next_cursor="abc")
    assert fast == page.model_dump_json().encode()
    assert DatasetPage.model_validate_json(fast) == page
