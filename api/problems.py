"""One error shape: RFC 9457 problem details (``application/problem+json``) with a stable
machine ``code`` beside the human ``detail``.

Routes raise :class:`Problem` (an ``HTTPException``, so FastAPI's own handling and existing
``except HTTPException`` code keep working); ``install`` renders every error the app can
produce — ``Problem``, plain ``HTTPException``, request validation — in this one shape.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

MEDIA_TYPE = "application/problem+json"


class ProblemBody(BaseModel):
    """What every error response carries (RFC 9457, plus ``code``)."""

    type: str = Field("about:blank", description="a URI naming the problem type")
    title: str = Field(description="the HTTP status phrase")
    status: int
    detail: str = Field(description="what went wrong, for a person")
    code: str = Field(description="what went wrong, for a program: stable, dotted")
    errors: list[dict[str, Any]] | None = Field(
        None, description="validation errors: where and why, one per bad value"
    )


class Problem(HTTPException):
    """An error answer: `status`, a stable dotted `code` and a `detail` for people."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.code = code
        self.errors = errors


#: The ``code`` of an ``HTTPException`` raised without one (FastAPI's own 404/405, ...).
GENERIC_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    """The JSON response of one problem."""
    body = ProblemBody(
        title=HTTPStatus(status).phrase, status=status, detail=detail, code=code, errors=errors
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        headers=headers,
        media_type=MEDIA_TYPE,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = getattr(exc, "code", None) or GENERIC_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(
        exc.status_code,
        code,
        detail,
        headers=getattr(exc, "headers", None),
        errors=getattr(exc, "errors", None),
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
        for e in exc.errors()
    ]
    where, message = "", "invalid request"
    if errors:
        where = ".".join(str(part) for part in errors[0]["loc"])
        message = str(errors[0]["msg"])
    detail = f"{where}: {message}" if where else message
    return problem_response(422, "invalid_request", detail, errors=errors)


def problem_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries: each status answers a problem+json `ProblemBody`."""
    return {
        status: {
            "model": ProblemBody,
            "description": description,
            "content": {MEDIA_TYPE: {}},
        }
        for status, description in descriptions.items()
    }


def _problem_media_types(document: dict[str, Any]) -> None:
    """Document each problem response under its real media type only: FastAPI files a
    `model=` response under application/json, beside the problem+json we declared."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if MEDIA_TYPE in content and "application/json" in content:
                    content[MEDIA_TYPE] = content.pop("application/json")


def install(app: FastAPI) -> None:
    """Render every error of `app` as problem details, and document them so."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()  # built once, then cached by FastAPI: the fix-up is idempotent
        _problem_media_types(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
