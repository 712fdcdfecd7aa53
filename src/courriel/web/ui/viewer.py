"""Who is looking at a page: the signed-in user, their principal, their language.

Every page of the application but sign-in needs a full session. A request
that changes something (any method but GET/HEAD) must carry the session's
CSRF token, in the form's `csrf` field or, from htmx, in `X-CSRF-Token`
(ASVS 5.0 V3.5.1); the check happens here, before the route runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from courriel.accounts.models import SessionStage, User
from courriel.accounts.sessions import SignedIn
from courriel.core.principal import Capability, Principal
from courriel.web.deps import services
from courriel.web.pages.accountbase import NotSignedIn, signed_in_at
from courriel.web.sessioncookie import CSRF_HEADER, SAFE_METHODS, check_csrf
from courriel.web.ui.i18n import negotiate


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a page request."""

    signed_in: SignedIn
    token: str
    principal: Principal
    language: str

    @property
    def user(self) -> User:
        """The user."""
        return self.signed_in.user

    @property
    def csrf(self) -> str:
        """The session's CSRF token, for forms and htmx requests."""
        return self.signed_in.session.csrf_token

    def can(self, capability: Capability) -> bool:
        """Whether the user's role grants `capability` (to show or hide a control)."""
        return capability in self.principal.capabilities


async def viewer(request: Request) -> Viewer:
    """The page's viewer; a redirect to sign-in (or the stage the session is at) otherwise."""
    found = services(request)
    signed_in, token = signed_in_at(request, found, {SessionStage.FULL})
    acting = found.sessions.principal(signed_in)
    if acting is None:
        raise NotSignedIn("/app/sign-in")
    if request.method not in SAFE_METHODS:
        presented = request.headers.get(CSRF_HEADER)
        if presented is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            value = (await request.form()).get("csrf")
            presented = value if isinstance(value, str) else None
        check_csrf(signed_in, presented)
    language = negotiate(signed_in.user.language, request.headers.get("accept-language", ""))
    return Viewer(signed_in=signed_in, token=token, principal=acting, language=language)


ViewerDep = Annotated[Viewer, Depends(viewer)]
