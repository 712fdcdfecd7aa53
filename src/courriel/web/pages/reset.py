"""A forgotten password: ask for a link by address, then choose a new password.

The request page answers the same words, status and time whether or not the
address has an account: the mail is composed and queued after the answer
(a background task), so nothing about the address shows (accounts/reset.py).
The GET of a link only shows the form (mail scanners that follow links change
nothing); the POST carries the signed, single-use token, which is its own CSRF
protection like an invitation's. These pages are before sign-in, in the bare
layout.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, Response

from courriel.core.errors import InvalidInputError, NotFoundError, RateLimitedError
from courriel.web.deps import ServicesDep
from courriel.web.pages.accountbase import (
    account_templates,
    choose_password_page,
    go,
    html,
    language_of,
)
from courriel.web.sessioncookie import (
    check_pre_session,
    client_of,
    pre_session_nonce,
    pre_session_token,
    set_pre_session,
)
from courriel.web.ui.i18n import N_, translations

_ASK = """{% extends "account" %}{% block page %}
<h1>{{ _("Reset your password") }}</h1>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
{% if sent %}<p class="done" role="status">{{ _("If an account uses this address, a link to \
choose a new password is on its way. It works once, for one hour.") }}</p>{% endif %}
<p class="muted">{{ _("Type the address you sign in with; we send it a link to choose a new \
password.") }}</p>
<form method="post" action="/app/password-reset">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label for="email">{{ _("Email address") }}</label>
<input id="email" name="email" type="email" required maxlength="320" autocomplete="username"
 value="{{ email }}">
<button type="submit">{{ _("Send me a link") }}</button>
</form>
<p><a href="/app/sign-in">{{ _("Back to sign-in") }}</a></p>{% endblock %}"""

_CHOOSE = """{% extends "account" %}{% block page %}
<h1>{{ _("Choose a new password") }}</h1>
{% if error %}<p class="error" role="alert" id="password-error">{{ error }}</p>{% endif %}
<p>{{ _("For %(email)s. Your other sessions end, and your second factor is still asked \
when you sign in.", email=email) }}</p>
<form method="post" action="/app/password-reset/new">
<input type="hidden" name="token" value="{{ token }}">
<label for="password">{{ _("New password (at least %(count)s characters)", count=min_length) }}\
</label>
<input id="password" name="password" type="password" required minlength="{{ min_length }}"
 maxlength="128" autocomplete="new-password"{% if error %} aria-invalid="true"
 aria-describedby="password-error"{% endif %}>
<button type="submit">{{ _("Set the password") }}</button></form>{% endblock %}"""

_INVALID = """{% extends "account" %}{% block page %}
<h1>{{ _("Link not valid") }}</h1>
<p>{{ _("This link is invalid, was already used or has expired.") }}</p>
<p><a href="/app/password-reset">{{ _("Ask for a new link") }}</a> · \
<a href="/app/sign-in">{{ _("Sign in") }}</a></p>
{% endblock %}"""

_PAGES = account_templates({"ask": _ASK, "choose": _CHOOSE, "invalid": _INVALID})


def router() -> APIRouter:  # noqa: C901 (one route per page action)
    """The password-reset pages."""
    pages = APIRouter(prefix="/app", tags=["account pages"], include_in_schema=False)

    def ask_page(
        request: Request, services: ServicesDep, status: int = 200, **values: object
    ) -> HTMLResponse:
        nonce = pre_session_nonce(request, services.settings)
        values.setdefault("email", "")
        language = language_of(request)
        if values.get("error"):
            values["error"] = translations(language).gettext(str(values["error"]))
        body = _PAGES.get_template("ask", language).render(
            language=language,
            csrf=pre_session_token(services.secret_key, nonce),
            before_sign_in=True,
            **values,
        )
        response = html(body, status)
        set_pre_session(response, services.settings, nonce)
        return response

    @pages.get("/password-reset", response_class=HTMLResponse)
    def ask_form(request: Request, services: ServicesDep, sent: str = "") -> HTMLResponse:
        return ask_page(request, services, sent=bool(sent))

    @pages.post("/password-reset", response_model=None)
    def ask(
        request: Request,
        services: ServicesDep,
        tasks: BackgroundTasks,
        email: Annotated[str, Form(max_length=320)],
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        check_pre_session(request, services.settings, services.secret_key, csrf)
        client = client_of(request, services.settings)
        try:
            services.password_resets.request(email, client)
        except RateLimitedError as exc:
            response = ask_page(
                request, services, 429, email=email, error=N_("Too many requests; wait a moment.")
            )
            response.headers["retry-after"] = str(max(1, int(exc.retry_after + 0.999)))
            return response
        # After the answer: the answer's time says nothing about the address.
        tasks.add_task(services.password_resets.deliver, email, client)
        return go("/app/password-reset?sent=1")

    def invalid(request: Request, status: int) -> HTMLResponse:
        language = language_of(request)
        return html(_PAGES.get_template("invalid", language).render(language=language), status)

    def choose_page(
        request: Request, services: ServicesDep, token: str, error: str = "", status: int = 200
    ) -> HTMLResponse:
        user = services.password_resets.pending(token)
        if user is None:
            return invalid(request, 404)
        return choose_password_page(_PAGES, "choose", request, services, user, token, error, status)

    @pages.get("/password-reset/new", response_class=HTMLResponse)
    def choose_form(request: Request, services: ServicesDep, token: str = "") -> HTMLResponse:
        return choose_page(request, services, token[:2000])

    @pages.post("/password-reset/new", response_model=None)
    def choose(
        request: Request,
        services: ServicesDep,
        token: Annotated[str, Form(max_length=2000)],
        password: Annotated[str, Form(max_length=1000)],
    ) -> Response:
        client = client_of(request, services.settings)
        try:
            services.password_resets.reset(token, password, client)
        except NotFoundError:
            return invalid(request, 404)
        except RateLimitedError as exc:
            response = invalid(request, 429)
            response.headers["retry-after"] = str(max(1, int(exc.retry_after + 0.999)))
            return response
        except InvalidInputError as exc:
            said = translations(language_of(request)).gettext("The new password %(reason)s.")
            return choose_page(request, services, token, said % {"reason": exc.reason}, 422)
        return go("/app/sign-in?reset=1")

    return pages
