"""Custom scalars: uint256 values travel as decimal strings (JSON numbers lose precision
past 2**53), exactly as the REST routes spell them."""

from __future__ import annotations

import re
from typing import NewType

import strawberry
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition

#: A uint256 (wei amounts, dataset and job ids) as a decimal string.
BigInt = NewType("BigInt", str)
_UINT256 = re.compile(r"[0-9]{1,78}")


def parse_big_int(value: object) -> BigInt:
    """A client's BigInt: a decimal string (or a JSON integer) of at most 78 digits."""
    text = str(value) if type(value) is int else value
    if not isinstance(text, str) or not _UINT256.fullmatch(text) or int(text) >= 2**256:
        raise GraphQLError(f"BigInt must be a uint256 as a decimal string, not {value!r}")
    return BigInt(text)


SCALARS: dict[object, ScalarDefinition] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        description="A uint256 as a decimal string (wei amounts, dataset and job ids).",
        serialize=str,
        parse_value=parse_big_int,
    )
}
