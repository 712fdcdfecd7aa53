"""Request dependencies: the services and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from courriel.core.errors import AuthenticationError
from courriel.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from courriel.core.principal import Principal
from courriel.services import Services
from courriel.web.client import client_address, parse_proxies
from courriel.web.sessioncookie import CSRF_HEADER, SAFE_METHODS, check_csrf, session_token

# Routes and pages name the services through this module, never the root itself.
__all__ = [
    "DEFAULT_PAGE",
    "CursorQuery",
    "LimitQuery",
    "PrincipalDep",
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

    A request authenticated by the cookie is a browser's: unless it is a GET,
    it must carry the session's CSRF token in `X-CSRF-Token`, so another site
    cannot make the browser act (ASVS 5.0 V3.5.1).
    """
    header = request.headers.get("authorization", "")
    found = services(request)
    if not header:
        cookie = session_token(request, found.settings)
        signed_in = found.sessions.resolve(cookie) if cookie else None
        acting = found.sessions.principal(signed_in) if signed_in else None
        if signed_in is not None and acting is not None:
            if request.method not in SAFE_METHODS:
                check_csrf(signed_in, request.headers.get(CSRF_HEADER))
            return acting
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("send an API key as 'Authorization: Bearer <key>'")
    return found.api_keys.authenticate(token.strip())


ServicesDep = Annotated[Services, Depends(services)]
PrincipalDep = Annotated[Principal, Depends(principal)]
CursorQuery = Annotated[
    str | None, Query(max_length=100, description="Cursor from a previous page")
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
DEFAULT_PAGE = DEFAULT_LIMIT
