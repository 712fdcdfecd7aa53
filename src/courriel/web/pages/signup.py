"""The public sign-up pages: hosted form, thank-you, confirmation.

No API key and not under /v1: these pages are for the people who subscribe.
Every page is rendered by Jinja2 with autoescape; every form carries a
signed, expiring token bound to the form and to a SameSite cookie (double
submit), a honeypot field, and a per-IP rate limit. The thank-you page is the
same whatever happened to the address (no enumeration).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from courriel.audience.signup import PublicForm, Visitor
from courriel.core.addresses import normalize_address
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.web.deps import Services, ServicesDep, client_ip
from courriel.web.pages.base import page_templates
from courriel.web.ratelimit import MemoryRateLimiter, RateLimiter

COOKIE = "courriel_form"
_FORM = """{% extends "base" %}{% block style %}
.purpose{color:#4a5263}
label{display:block;margin:.9rem 0 .3rem;font-weight:600}
input[type=email]{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #b9c0cc;
border-radius:6px;font:inherit}
.consent{display:flex;gap:.6rem;align-items:flex-start;font-weight:400;margin-top:1rem}
.consent input{margin-top:.3rem}
.trap{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
{% endblock %}{% block body %}
<h1>{{ form.title }}</h1>
<p class="purpose">{{ form.list_name }}{% if form.purpose %}: {{ form.purpose }}{% endif %}</p>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ action }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label for="email">Email address</label>
<input id="email" name="email" type="email" required maxlength="320" autocomplete="email"
 value="{{ email }}">
<div class="trap" aria-hidden="true"><label for="website">Leave this empty</label>
<input id="website" name="website" type="text" tabindex="-1" autocomplete="off"></div>
<label class="consent"><input type="checkbox" name="consent" value="yes" required>
<span>{{ form.consent_text }}</span></label>
<button type="submit">Subscribe</button>
</form>{% endblock %}"""

_MESSAGE = """{% extends "base" %}{% block body %}
<h1>{{ title }}</h1><p>{{ message }}</p>
{% if token %}<form method="post" action="/f/confirm">
<input type="hidden" name="token" value="{{ token }}">
<button type="submit">Confirm my subscription</button></form>{% endif %}
{% endblock %}"""

_PAGES = page_templates({"form": _FORM, "message": _MESSAGE})

THANKS = (
    "Thank you. If this address can be subscribed, we have sent it an email: "
    "follow the link in it to confirm."
)


def _page(name: str, status: int = 200, **values: object) -> HTMLResponse:
    body = _PAGES.get_template(name).render(**values)
    return HTMLResponse(body, status_code=status)


def _message(title: str, message: str, status: int = 200, token: str = "") -> HTMLResponse:
    return _page("message", status, title=title, message=message, token=token)


def _visitor(request: Request) -> Visitor:
    return Visitor(
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )


class SignupFields(BaseModel):
    """The fields of a sign-up form post."""

    email: str = Field(default="", max_length=320)
    consent: str = Field(default="", max_length=10)
    website: str = Field(default="", max_length=500)  # the honeypot: people leave it empty
    csrf: str = Field(default="", max_length=2000)


def _show(
    request: Request, form: PublicForm, services: Services, error: str = "", email: str = ""
) -> HTMLResponse:
    nonce = request.cookies.get(COOKIE) or secrets.token_urlsafe(18)
    response = _page(
        "form",
        422 if error else 200,
        title=form.title,
        form=form,
        csrf=services.signups.csrf_token(form, nonce),
        action=f"/f/{form.tenant_id}/{form.form_id}",
        error=error,
        email=email,
    )
    secure = services.settings.public_url.startswith("https://")
    # SameSite=None lets the form work inside a frame on the sender's own
    # site; browsers only accept it on Secure cookies, hence Lax over http.
    response.set_cookie(
        COOKIE,
        nonce,
        max_age=7200,
        path="/f",
        httponly=True,
        secure=secure,
        samesite="none" if secure else "lax",
    )
    return response


def _load(services: Services, tenant_id: str, form_id: str) -> PublicForm | None:
    try:
        return services.signups.public_form(tenant_id, form_id)
    except NotFoundError:
        return None


def _accept(
    request: Request, form: PublicForm, services: Services, fields: SignupFields
) -> HTMLResponse:
    if not services.signups.check_csrf(form, fields.csrf, request.cookies.get(COOKIE, "")):
        return _message("Form expired", "This form has expired: reload the page.", 403)
    if fields.website:
        return _message("Check your inbox", THANKS)  # a bot: answer as usual, store nothing
    if fields.consent != "yes":
        return _show(request, form, services, "Tick the box to agree.", fields.email)
    try:
        address = normalize_address(fields.email)
    except InvalidInputError:
        return _show(request, form, services, "Enter a valid email address.", fields.email)
    services.signups.submit(form, address, _visitor(request))
    return _message("Check your inbox", THANKS)


def public_router(limiter: RateLimiter | None = None) -> APIRouter:
    """The public pages; `limiter` counts form posts per IP (in memory by default)."""
    router = APIRouter(prefix="/f", tags=["sign-up pages"], include_in_schema=False)
    limits = limiter or MemoryRateLimiter(limit=10, window_seconds=600)

    @router.get("/confirm", response_class=HTMLResponse)
    def confirm_page(token: str = "") -> HTMLResponse:
        # A GET only shows a button: mail scanners that prefetch links must not confirm.
        return _message(
            "Confirm your subscription",
            "One click to confirm that you want to receive these emails.",
            token=token[:2000],
        )

    @router.post("/confirm", response_class=HTMLResponse)
    def confirm(
        request: Request, services: ServicesDep, token: Annotated[str, Form(max_length=2000)]
    ) -> HTMLResponse:
        name = services.signups.confirm(token, _visitor(request))
        if name is None:
            return _message("Link not valid", "This link is invalid or has expired.", 400)
        return _message("You are subscribed", f"Thank you: you now receive {name}.")

    @router.get("/{tenant_id}/{form_id}", response_class=HTMLResponse)
    def form_page(
        request: Request, tenant_id: str, form_id: str, services: ServicesDep
    ) -> HTMLResponse:
        form = _load(services, tenant_id, form_id)
        if form is None:
            return _message("Not found", "There is no such form.", 404)
        return _show(request, form, services)

    @router.post("/{tenant_id}/{form_id}", response_class=HTMLResponse)
    def submit(
        request: Request,
        tenant_id: str,
        form_id: str,
        services: ServicesDep,
        fields: Annotated[SignupFields, Form()],
    ) -> HTMLResponse:
        if not limits.allow(f"signup:{client_ip(request) or ''}"):
            return _message("Too many attempts", "Please try again in a few minutes.", 429)
        form = _load(services, tenant_id, form_id)
        if form is None:
            return _message("Not found", "There is no such form.", 404)
        return _accept(request, form, services, fields)

    return router
