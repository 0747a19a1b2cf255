"""schemathesis over the OpenAPI schema, anonymous and signed in (a real SIWE session): no
5xx, and every response matches its schema. (/stream is excluded: an endless SSE stream has
its own test.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api.conftest import Server, World
from tests.api.test_siwe import signed, siwe_text


@pytest.fixture(scope="module")
def bearer(server: Server, world: World) -> str:
    """A session token of account 4 (a buyer), signed in with SIWE against the server."""
    with httpx.Client(base_url=server.url) as http:
        nonce = http.get("/auth/nonce").json()["nonce"]
        body = signed(siwe_text(world.platform.account(4).address, nonce), index=4)
        token = http.post("/auth/verify", json=body).json()["token"]
        me = http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
    return f"Bearer {token}"


def _fuzz(operation: Any, authorization: str | None, statuses: set[int]) -> list[str]:
    """Run one operation's examples, adding the statuses seen to `statuses`; the failures
    (each a short description)."""
    failures: list[str] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def run(case: schemathesis.Case[Any]) -> None:
        if authorization is not None:
            # The signed-in run: the route's own checks run past the session lookup
            case.headers["authorization"] = authorization
        try:
            # Every default check except "schema-valid data must be accepted": an opaque
            # cursor we did not issue is well-typed yet refused with a documented 400.
            response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
            statuses.add(response.status_code)
        except Exception as exc:  # collected: one run reports every failing operation
            failures.append(f"{operation.label}: {str(exc)[:600]}")

    run()
    return failures[:1]  # the first example of each operation is enough to locate it


def test_every_operation_conforms_to_its_schema(server: Server, bearer: str) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json").exclude(path="/stream")
    checked: dict[tuple[str, bool], set[int]] = {}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        # Signed in, logging out would end the session the rest of the run uses
        signed_in = [] if operation.label == "POST /auth/logout" else [bearer]
        for authorization in (None, *signed_in):
            statuses = checked.setdefault((operation.label, authorization is not None), set())
            failures += _fuzz(operation, authorization, statuses)
    assert not failures, "\n\n".join(failures)
    # The signed-in run got past the session check (the token was sent and honoured)
    assert checked[("GET /auth/me", True)] == {200}
    assert checked[("GET /auth/me", False)] == {401}
    assert checked[("GET /datasets/{dataset_id}/download", True)] - {401, 422}
    checked_labels = {label for label, _ in checked}
    assert {"GET /datasets", "POST /auth/verify", "POST /uploads"} <= checked_labels
