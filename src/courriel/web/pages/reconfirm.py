"""The public re-permission page: the link shows a button; the button confirms.

No API key and not under /v1. A GET only shows the button, so mail scanners
that prefetch links confirm nothing; the POST carries the signed token, which
is its own CSRF protection (it is bound to one request and expires).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from courriel.audience.signup import Visitor
from courriel.privacy.reconfirm import Reconfirmation
from courriel.web.deps import ServicesDep
from courriel.web.pages.base import page_templates
from courriel.web.ui.i18n import N_, negotiate, translations

_PAGE = """{% extends "message" %}{% block after %}
{% if token %}<form method="post" action="/r/reconfirm">
<input type="hidden" name="token" value="{{ token }}">
<button type="submit">{{ button }}</button></form>{% endif %}
{% endblock %}"""

_PAGES = page_templates({"page": _PAGE})


def _page(
    request: Request, title: str, message: str, status: int = 200, token: str = ""
) -> HTMLResponse:
    # The person's browser decides: the token names a request, not who reads the page.
    language = negotiate("", request.headers.get("accept-language", ""))
    _ = translations(language).gettext
    body = _PAGES.get_template("page").render(
        language=language,
        title=_(title),
        message=_(message),
        token=token,
        button=_("Yes, keep me subscribed"),
    )
    return HTMLResponse(body, status_code=status)


def public_router() -> APIRouter:
    """The re-permission pages."""
    router = APIRouter(prefix="/r", tags=["re-permission pages"], include_in_schema=False)

    @router.get("/reconfirm", response_class=HTMLResponse)
    def reconfirm_page(request: Request, token: str = "") -> HTMLResponse:
        return _page(
            request,
            N_("Stay subscribed?"),
            N_("One click to tell us you still want to receive these emails."),
            token=token[:2000],
        )

    @router.post("/reconfirm", response_class=HTMLResponse)
    def reconfirm(
        request: Request, services: ServicesDep, token: Annotated[str, Form(max_length=2000)]
    ) -> HTMLResponse:
        visitor = Visitor(
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )
        name = Reconfirmation(services.storage, services.clock, services.secret_key).confirm(
            token, visitor
        )
        if name is None:
            return _page(
                request, N_("Link not valid"), N_("This link is invalid or has expired."), 404
            )
        language = negotiate("", request.headers.get("accept-language", ""))
        kept = translations(language).gettext("You keep receiving %(name)s.") % {"name": name}
        return _page(request, N_("Thank you"), kept)

    return router
