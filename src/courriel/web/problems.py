"""Errors as RFC 9457 problem details (application/problem+json).

Every 4xx names what was wrong; validation errors name the offending field
as a dotted path (``consent.source``) in ``errors[].field``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from courriel.core.errors import (
    AuthenticationError,
    ConflictError,
    CourrielError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
)

PROBLEM = "application/problem+json"

_STATUS: dict[type[CourrielError], int] = {
    AuthenticationError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    InvalidInputError: 422,
    RateLimitedError: 429,
}


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    # ("body", "consent", "source") → "consent.source"; query/path keep no prefix either.
    parts = (
        [str(p) for p in loc[1:]]
        if loc and loc[0] in ("body", "query", "path")
        else list(map(str, loc))
    )
    return ".".join(parts) or "body"


# The web application shows its errors as pages: (request) → page or None.
PageErrors = Callable[[Request, int, str], Response | None]


def install(app: FastAPI, page_errors: PageErrors | None = None) -> None:  # noqa: C901 (one handler per kind)
    """Register the handlers that turn every error into a problem (or, for a
    browser on the application's pages, into a page: `page_errors`)."""

    def as_page(request: Request, status: int, detail: str) -> Response | None:
        return page_errors(request, status, detail) if page_errors is not None else None

    async def on_courriel(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CourrielError)
        status = next((s for t, s in _STATUS.items() if isinstance(exc, t)), 400)
        page = as_page(request, status, exc.detail)
        if page is not None:
            return page
        if isinstance(exc, InvalidInputError):
            return problem(
                status, exc.title, exc.detail, errors=[{"field": exc.field, "detail": exc.reason}]
            )
        if isinstance(exc, RateLimitedError):
            # RFC 9110 §10.2.3: whole seconds, rounded up so a client never comes back early.
            response = problem(status, exc.title, exc.detail)
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
            return response
        return problem(status, exc.title, exc.detail)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        page = as_page(
            request,
            422,
            "; ".join(f"{_field(tuple(e['loc']))}: {e['msg']}" for e in errors),
        )
        if page is not None:
            return page
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(400, "Malformed JSON", "the request body is not valid JSON")
        fields = [{"field": _field(tuple(e["loc"])), "detail": e["msg"]} for e in errors]
        names = ", ".join(f["field"] for f in fields)
        return problem(422, "Invalid input", f"invalid fields: {names}", errors=fields)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        page = as_page(request, exc.status_code, str(exc.detail))
        if page is not None:
            return page
        return problem(exc.status_code, "HTTP error", str(exc.detail))

    app.add_exception_handler(CourrielError, on_courriel)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
