"""What keeps one GraphQL request cheap, and what its errors may say.

Every limit refuses the document before it runs (a GraphQL error, HTTP 200 or 400):
depth (introspection has graphql-core's own nesting rule), aliases, tokens; `first` is
bounded per connection. No type nests a list in a list, so one request reads at most
``MAX_ALIASES * MAX_FIRST`` rows per root field.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import structlog
from fastapi import HTTPException
from graphql import GraphQLError, MaxIntrospectionDepthRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from api.problems import GENERIC_CODES

log = structlog.get_logger(__name__)

#: Deepest selection (`account { purchases { edges { node { price } } } }` is 5).
MAX_DEPTH = 8
#: Most aliases in one document (each alias is another root query).
MAX_ALIASES = 15
#: Most tokens in one document (the standard introspection query is ~300).
MAX_TOKENS = 2000


class PublicErrors(MaskErrors):
    """A refusal (an HTTPException from a shared query function) keeps its detail and
    gains its problem `code`; anything unexpected is logged and masked."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_unexpected, error_message="internal error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        """The error as a client sees it."""
        original = error.original_error
        if isinstance(original, HTTPException):
            code = getattr(original, "code", None) or GENERIC_CODES.get(original.status_code)
            return GraphQLError(
                str(original.detail),
                nodes=error.nodes,
                path=error.path,
                extensions={"code": code or "error", "status": original.status_code},
            )
        log.error("api.graphql.failed", path=error.path, error=repr(original)[:300])
        return super().anonymise_error(error)


def _unexpected(error: GraphQLError) -> bool:
    """Anything raised by a resolver but a GraphQLError (ours, with its own message)."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


#: The limits and error policy of the schema, as factories: each operation gets its own
#: extension objects (they keep per-operation state).
EXTENSIONS: list[Callable[[], SchemaExtension]] = [
    partial(QueryDepthLimiter, max_depth=MAX_DEPTH),
    partial(AddValidationRules, [MaxIntrospectionDepthRule]),
    partial(MaxAliasesLimiter, max_alias_count=MAX_ALIASES),
    partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
    PublicErrors,
]
