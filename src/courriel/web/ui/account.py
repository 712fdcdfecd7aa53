"""The signed-in user's own account pages (web/pages/security.py) inside the application.

Those pages serve several stages of a session: a password to change first,
a second factor to enrol, or signed in. Only a fully signed-in user gets the
application's layout and navigation; the earlier stages keep the bare layout
of sign-in, as nothing else is open to them yet.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from courriel.accounts.sessions import SignedIn
from courriel.web.deps import Services
from courriel.web.pages.accountbase import NotSignedIn
from courriel.web.ui.i18n import negotiate
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer


def account_page(
    request: Request,
    services: Services,
    signed_in: SignedIn,
    token: str,
    template: str,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """`template` (under templates/account/) in the layout, for a fully signed-in session."""
    acting = services.sessions.principal(signed_in)
    if acting is None:
        raise NotSignedIn("/app/sign-in")
    language = negotiate(signed_in.user.language, request.headers.get("accept-language", ""))
    viewer = Viewer(signed_in=signed_in, token=token, principal=acting, language=language)
    return render(request, viewer, f"account/{template}", status, **context)
