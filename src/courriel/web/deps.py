"""Request dependencies: the services and the authenticated principal."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from courriel.core.errors import AuthenticationError
from courriel.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from courriel.core.principal import Principal
from courriel.core.schemas import INT32_MAX
from courriel.services import Services
from courriel.web.apilimits import limits_of
from courriel.web.client import client_address, parse_proxies
from courriel.web.sessioncookie import CSRF_HEADER, SAFE_METHODS, check_csrf, session_token

# Routes and pages name the services through this module, never the root itself.
__all__ = [
    "DEFAULT_PAGE",
    "CursorQuery",
    "LimitQuery",
    "PrincipalDep",
    "RowIdPath",
    "Services",
    "ServicesDep",
    "client_ip",
    "principal",
    "services",
]


def services(request: Request) -> Services:
    """The services this app was built with."""
    found: Services = request.app.state.services
    return found


def client_ip(request: Request) -> str | None:
    """The client's address: the peer, or what a trusted proxy says (setting `trusted_proxies`)."""
    return client_address(request, parse_proxies(services(request).settings.trusted_proxies))


def principal(request: Request) -> Principal:
    """The principal of the API key in ``Authorization: Bearer …``, or of the
    signed-in session cookie; every call has one.

    HTTP Basic with the key's id as user name and its secret as password
    (RFC 7617; how Mailjet's clients send their key pair) works as well. All
    go through the same limits: per source address before any credential is
    looked at, wrong keys counted per address, then per principal. A request
    authenticated by the cookie is a browser's: unless it is a GET, it must
    carry the session's CSRF token in `X-CSRF-Token`, so another site cannot
    make the browser act (ASVS 5.0 V3.5.1).
    """
    found = services(request)
    limits = limits_of(request.app.state, found.settings, found.clock)
    address = client_ip(request) or "unknown"
    limits.before_authentication(address)
    header = request.headers.get("authorization", "")
    if not header:
        cookie = session_token(request, found.settings)
        signed_in = found.sessions.resolve(cookie) if cookie else None
        acting = found.sessions.principal(signed_in) if signed_in else None
        if signed_in is not None and acting is not None:
            if request.method not in SAFE_METHODS:
                check_csrf(signed_in, request.headers.get(CSRF_HEADER))
            limits.after_authentication(acting)
            return acting
    scheme, _, token = header.partition(" ")
    basic = scheme.lower() == "basic"
    if not (basic or scheme.lower() == "bearer") or not token.strip():
        raise AuthenticationError(
            "send an API key as 'Authorization: Bearer <key>', or its id and secret with Basic"
        )
    try:
        if basic:
            key_id, secret = _basic(token.strip())
            acting = found.api_keys.authenticate_pair(key_id, secret)
        else:
            acting = found.api_keys.authenticate(token.strip())
    except AuthenticationError as exc:
        raise limits.wrong_key(address, exc) from None
    limits.after_authentication(acting)
    return acting


def _basic(token: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise AuthenticationError("malformed Basic credentials") from None
    key_id, colon, secret = decoded.partition(":")
    if not colon or not key_id or not secret:
        raise AuthenticationError("Basic credentials are 'key id:secret'")
    return key_id, secret


ServicesDep = Annotated[Services, Depends(services)]
PrincipalDep = Annotated[Principal, Depends(principal)]
CursorQuery = Annotated[
    str | None, Query(max_length=100, description="Cursor from a previous page")
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
DEFAULT_PAGE = DEFAULT_LIMIT
# A numeric id or version in a path: bounded like every integer input
# (`courriel.core.schemas`), to what an INTEGER column holds on every
# backend, so a huge one is a 422 naming it.
RowIdPath = Annotated[int, Path(ge=1, le=INT32_MAX)]
