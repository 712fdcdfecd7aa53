"""Request dependencies: the services and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from courriel.core.errors import AuthenticationError
from courriel.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from courriel.core.principal import Principal
from courriel.services import Services
from courriel.web.client import client_address, parse_proxies

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
    """The principal of the API key in ``Authorization: Bearer …``; every call has one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("send an API key as 'Authorization: Bearer <key>'")
    return services(request).api_keys.authenticate(token.strip())


ServicesDep = Annotated[Services, Depends(services)]
PrincipalDep = Annotated[Principal, Depends(principal)]
CursorQuery = Annotated[
    str | None, Query(max_length=100, description="Cursor from a previous page")
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
DEFAULT_PAGE = DEFAULT_LIMIT
