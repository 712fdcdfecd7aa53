"""The invitation page: the link from the invitation mail; the form sets the password.

The GET only shows the form (mail scanners that follow links accept
nothing). The POST carries the signed, single-use invitation token, which
is its own CSRF protection: it is bound to one invitation and expires.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse

from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.web.deps import ServicesDep
from courriel.web.pages.accountbase import account_templates, html

_ACCEPT = """{% extends "account" %}{% block page %}
<h1>Join your team</h1>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<p>Choose the password for <strong>{{ email }}</strong>.</p>
<form method="post" action="/app/invitation"><input type="hidden" name="token" value="{{ token }}">
<label for="password">Password (at least {{ min_length }} characters)</label>
<input id="password" name="password" type="password" required minlength="{{ min_length }}"
 maxlength="128" autocomplete="new-password">
<button type="submit">Join</button></form>{% endblock %}"""

_DONE = """{% extends "account" %}{% block page %}
<h1>{{ title }}</h1><p>{{ message }}</p>
{% if sign_in %}<p><a href="/app/sign-in">Sign in</a></p>{% endif %}{% endblock %}"""

_PAGES = account_templates({"accept": _ACCEPT, "done": _DONE})
INVALID = "This invitation is invalid, was already used or has expired. Ask for a new one."


def router() -> APIRouter:
    """The invitation pages."""
    pages = APIRouter(prefix="/app", tags=["account pages"], include_in_schema=False)

    def accept_page(
        services: ServicesDep, token: str, error: str = "", status: int = 200
    ) -> HTMLResponse:
        user = services.invitations.pending(token)
        if user is None:
            body = _PAGES.get_template("done").render(title="Link not valid", message=INVALID)
            return html(body, 404)
        policy = services.credentials.policy(user.tenant_id)
        body = _PAGES.get_template("accept").render(
            token=token, email=user.email, error=error, min_length=policy.min_password_length
        )
        return html(body, status)

    @pages.get("/invitation", response_class=HTMLResponse)
    def invitation(services: ServicesDep, token: str = "") -> HTMLResponse:
        return accept_page(services, token[:2000])

    @pages.post("/invitation", response_class=HTMLResponse)
    def accept(
        services: ServicesDep,
        token: Annotated[str, Form(max_length=2000)],
        password: Annotated[str, Form(max_length=1000)],
    ) -> HTMLResponse:
        try:
            services.invitations.accept(token, password)
        except NotFoundError:
            body = _PAGES.get_template("done").render(title="Link not valid", message=INVALID)
            return html(body, 404)
        except InvalidInputError as exc:
            return accept_page(services, token, f"The password {exc.reason}.", 422)
        body = _PAGES.get_template("done").render(
            title="Welcome", message="Your password is set.", sign_in=True
        )
        return html(body)

    return pages
