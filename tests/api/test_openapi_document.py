"""The committed OpenAPI document and TypeScript types are what the app makes today, and
the operation ids are the stable `<tag>_<name>` ones clients are generated from."""

from __future__ import annotations

import json
import re

import pytest

from api.openapi_document import (
    DOCUMENT,
    GENERATOR,
    REGENERATE,
    TYPES,
    render_document,
    render_types,
)


def test_committed_document_is_the_apps() -> None:
    assert DOCUMENT.read_text() == render_document(), f"stale {DOCUMENT.name}: {REGENERATE}"


@pytest.mark.skipif(not GENERATOR.exists(), reason="openapi-typescript not installed (npm ci)")
def test_committed_types_are_generated_from_the_document() -> None:
    assert TYPES.read_text() == render_types(), f"stale {TYPES.name}: {REGENERATE}"


def test_operation_ids_are_tag_and_name() -> None:
    document = json.loads(DOCUMENT.read_text())
    operations = [op for path in document["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    for operation in operations:
        tag = operation["tags"][0]
        assert re.fullmatch(rf"{tag}_[a-z_]+", operation["operationId"]), operation
    assert {"datasets_list", "datasets_get", "datasets_download", "uploads_create"} <= set(ids)
    assert {"auth_nonce", "auth_verify", "auth_logout", "accounts_activity"} <= set(ids)


def test_every_error_is_documented_as_problem_json() -> None:
    document = json.loads(DOCUMENT.read_text())
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/health":
                    content = response["content"]
                    assert list(content) == ["application/problem+json"], (method, path, status)
                    schema = content["application/problem+json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ProblemBody"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
