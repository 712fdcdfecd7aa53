"""The sign-in session cookie and CSRF checks, shared by the pages and the API.

The cookie is named with the `__Host-` prefix when the public URL is https:
browsers then accept it only with Secure, Path=/ and no Domain, so no
sibling host or plain-http page can set or overwrite it (RFC 6265bis
§4.1.3.2). A browser refuses a `__Host-` cookie without Secure, so on a plain
http installation (development) the cookie has no prefix and no Secure.
Either way it is HttpOnly and SameSite=Lax.

CSRF: every state-changing form carries the session's CSRF token in a hidden
field, and every non-GET request authenticated by the cookie carries it in
the `X-CSRF-Token` header; a request without it is refused. Forms shown
before sign-in bind a signed token to a random pre-session cookie (double
submit), so a sign-in cannot be forged from another site either.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from courriel.accounts.sessions import Client, SignedIn
from courriel.config import Settings
from courriel.core import tokens
from courriel.core.errors import ForbiddenError
from courriel.web.client import client_address, parse_proxies

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


def secure(settings: Settings) -> bool:
    """Whether the installation is served over https."""
    return settings.public_url.startswith("https://")


def cookie_name(settings: Settings, base: str = "courriel_session") -> str:
    """`__Host-courriel_session` over https, `courriel_session` on plain http."""
    return f"__Host-{base}" if secure(settings) else base


def session_token(request: Request, settings: Settings) -> str | None:
    """The session token the request presents, if any."""
    return request.cookies.get(cookie_name(settings))


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    """Hand the browser a (new) session token."""
    response.set_cookie(
        cookie_name(settings),
        token,
        httponly=True,
        secure=secure(settings),
        samesite="lax",
        path="/",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    """Make the browser forget its session token."""
    response.delete_cookie(
        cookie_name(settings), path="/", secure=secure(settings), httponly=True, samesite="lax"
    )


def client_of(request: Request, settings: Settings) -> Client:
    """The request's source address (trusted proxies believed) and user agent."""
    return Client(
        ip=client_address(request, parse_proxies(settings.trusted_proxies)),
        user_agent=request.headers.get("user-agent", "")[:300],
    )


def check_csrf(signed_in: SignedIn, presented: str | None) -> None:
    """ForbiddenError unless `presented` is the session's CSRF token."""
    if not presented or not hmac.compare_digest(
        presented.encode(), signed_in.session.csrf_token.encode()
    ):
        raise ForbiddenError("the CSRF token is missing or wrong; reload the page and try again")


# -- forms before sign-in: a signed token bound to a pre-session cookie ----------

PRE_COOKIE = "courriel_presession"
_FORM_PURPOSE = "pre-session form"


def pre_session_nonce(request: Request, settings: Settings) -> str:
    """The browser's pre-session nonce, or a new one (`set_pre_session` hands it over)."""
    nonce = request.cookies.get(cookie_name(settings, PRE_COOKIE))
    if not nonce or len(nonce) > 64:
        nonce = secrets.token_urlsafe(24)
    return nonce


def set_pre_session(response: Response, settings: Settings, nonce: str) -> None:
    """Give the browser its pre-session nonce (again)."""
    response.set_cookie(
        cookie_name(settings, PRE_COOKIE),
        nonce,
        httponly=True,
        secure=secure(settings),
        samesite="lax",
        path="/",
    )


def pre_session_token(secret_key: bytes, nonce: str) -> str:
    """The form token bound to a pre-session nonce."""
    return tokens.hex_tag(secret_key, f"{_FORM_PURPOSE}:{nonce}", 32)


def check_pre_session(request: Request, settings: Settings, key: bytes, presented: str) -> None:
    """ForbiddenError unless the form token matches the request's pre-session cookie."""
    nonce = request.cookies.get(cookie_name(settings, PRE_COOKIE))
    if not nonce or not hmac.compare_digest(
        presented.encode(), pre_session_token(key, nonce).encode()
    ):
        raise ForbiddenError(
            "the form expired or came from elsewhere; reload the page and try again"
        )
