"""The invitation page: the link from the invitation mail; the form sets the password.

The GET only shows the form (mail scanners that follow links accept
nothing). The POST carries the signed, single-use invitation token, which
is its own CSRF protection: it is bound to one invitation and expires.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.web.deps import ServicesDep
from courriel.web.pages.accountbase import (
    account_templates,
    choose_password_page,
    html,
    language_of,
)
from courriel.web.ui.i18n import N_, translations

_ACCEPT = """{% extends "account" %}{% block page %}
<h1>{{ _("Join your team") }}</h1>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<p>{{ _("Choose the password for %(email)s.", email=email) }}</p>
<form method="post" action="/app/invitation"><input type="hidden" name="token" value="{{ token }}">
<label for="password">{{ _("Password (at least %(count)s characters)", count=min_length) }}</label>
<input id="password" name="password" type="password" required minlength="{{ min_length }}"
 maxlength="128" autocomplete="new-password">
<button type="submit">{{ _("Join") }}</button></form>{% endblock %}"""

_DONE = """{% extends "account" %}{% block page %}
<h1>{{ _(title) }}</h1><p>{{ _(message) }}</p>
{% if sign_in %}<p><a href="/app/sign-in">{{ _("Sign in") }}</a></p>{% endif %}{% endblock %}"""

_PAGES = account_templates({"accept": _ACCEPT, "done": _DONE})
INVALID = N_("This invitation is invalid, was already used or has expired. Ask for a new one.")
NOT_VALID = N_("Link not valid")


def router() -> APIRouter:
    """The invitation pages."""
    pages = APIRouter(prefix="/app", tags=["account pages"], include_in_schema=False)

    def done(
        request: Request, title: str, message: str, status: int = 200, **more: bool
    ) -> HTMLResponse:
        language = language_of(request)
        body = _PAGES.get_template("done", language).render(
            language=language, title=title, message=message, **more
        )
        return html(body, status)

    def accept_page(
        request: Request, services: ServicesDep, token: str, error: str = "", status: int = 200
    ) -> HTMLResponse:
        user = services.invitations.pending(token)
        if user is None:
            return done(request, NOT_VALID, INVALID, 404)
        return choose_password_page(_PAGES, "accept", request, services, user, token, error, status)

    @pages.get("/invitation", response_class=HTMLResponse)
    def invitation(request: Request, services: ServicesDep, token: str = "") -> HTMLResponse:
        return accept_page(request, services, token[:2000])

    @pages.post("/invitation", response_class=HTMLResponse)
    def accept(
        request: Request,
        services: ServicesDep,
        token: Annotated[str, Form(max_length=2000)],
        password: Annotated[str, Form(max_length=1000)],
    ) -> HTMLResponse:
        try:
            services.invitations.accept(token, password)
        except NotFoundError:
            return done(request, NOT_VALID, INVALID, 404)
        except InvalidInputError as exc:
            said = translations(language_of(request)).gettext("The password %(reason)s.")
            return accept_page(request, services, token, said % {"reason": exc.reason}, 422)
        return done(request, N_("Welcome"), N_("Your password is set."), sign_in=True)

    return pages
