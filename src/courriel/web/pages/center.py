"""The privacy-center pages at ``/p/{token}``: public, no login, token-authenticated.

- ``GET /p/{token}``: the person's lists and rights, one form per action;
- ``POST /p/{token}/{action}``: subscriptions, download, restrict, tracking,
  delete. Each form carries its own single-purpose action token and a CSRF
  token paired with a SameSite cookie (see `privacy.center`).

Every page is Jinja2 with autoescape; every failure of a token is a plain
404; after a change the browser is sent back (303) to the same center page,
the only place these pages ever redirect to. Requests are rate limited per IP.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from courriel.privacy.center import ACTIONS, CenterView, PrivacyCenter, Visitor
from courriel.privacy.models import ObjectionGround, RequestType
from courriel.web.deps import ServicesDep
from courriel.web.pages.base import page_templates
from courriel.web.ratelimit import MemoryRateLimiter, RateLimiter

COOKIE = "courriel_privacy"
DONE = {
    "subscriptions": "Your lists are updated.",
    "restrict": "Processing of your data is restricted: you will receive nothing from us.",
    "tracking": "We no longer track whether you open or click our emails.",
    "marketing": "You will receive no marketing from us, from any list.",
}

_CENTER = """{% extends "base" %}{% block width %}34rem{% endblock %}{% block style %}
section{border-top:1px solid #e3e6ec;padding-top:.4rem}
label{display:flex;gap:.6rem;align-items:flex-start;margin:.4rem 0}
button{margin-top:.6rem;padding:.55rem 1.1rem}
{% endblock %}{% block body %}
<h1>Your privacy</h1>
<p class="muted">For {{ view.email }}</p>
{% if done %}<p class="done" role="status">{{ done }}</p>{% endif %}
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<section><h2>Your lists</h2>
{% if view.lists %}<form method="post" action="{{ base }}/subscriptions">
<input type="hidden" name="token" value="{{ tokens.subscriptions }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
{% for item in view.lists %}<label><input type="checkbox" name="keep" value="{{ item.list_id }}"
{% if item.receiving %}checked{% else %}disabled{% endif %}>
<span><strong>{{ item.name }}</strong>{% if item.purpose %} — {{ item.purpose }}{% endif %}
{% if not item.receiving %}<br><span class="muted">({{ item.status }})</span>{% endif %}
</span></label>{% endfor %}
<button type="submit">Save my lists</button></form>
{% else %}<p class="muted">You are on no list.</p>{% endif %}</section>
<section><h2>Your data</h2><p>Download everything we hold about you (JSON).</p>
<form method="post" action="{{ base }}/download">
<input type="hidden" name="token" value="{{ tokens.download }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">Download my data</button></form></section>
<section><h2>Tracking</h2>
{% if view.no_tracking %}<p>We do not track your opens and clicks.</p>{% else %}
<p>Stop recording when you open our emails or click their links.</p>
<form method="post" action="{{ base }}/tracking">
<input type="hidden" name="token" value="{{ tokens.tracking }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">Stop tracking me</button></form>{% endif %}</section>
<section><h2>Marketing</h2>
{% if view.no_marketing %}<p>You receive no marketing from us.</p>{% else %}
<p>Object to direct marketing: no newsletter or offer from any of our lists, ever.</p>
<form method="post" action="{{ base }}/marketing">
<input type="hidden" name="token" value="{{ tokens.marketing }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">Stop all marketing</button></form>{% endif %}</section>
<section><h2>Restrict processing</h2>
{% if view.restricted %}<p>Processing of your data is restricted.</p>{% else %}
<p>Keep my data but use it for nothing: no emails, no segments, no profiling.</p>
<form method="post" action="{{ base }}/restrict">
<input type="hidden" name="token" value="{{ tokens.restrict }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">Restrict processing</button></form>{% endif %}</section>
<section><h2>Delete me</h2><p>Erase everything we hold about you. This cannot be undone.</p>
<form method="post" action="{{ base }}/delete">
<input type="hidden" name="token" value="{{ tokens.delete }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label><input type="checkbox" name="confirm" value="yes" required>
<span>I understand that all my data will be erased.</span></label>
<button type="submit" class="danger">Delete my data</button></form></section>
{% endblock %}"""

_PAGES = page_templates({"center": _CENTER})


def _message(title: str, message: str, status: int) -> HTMLResponse:
    body = _PAGES.get_template("message").render(title=title, message=message)
    return HTMLResponse(body, status_code=status)


def _missing() -> HTMLResponse:
    return _message("Link not valid", "This link is not valid or has expired.", 404)


def _visitor(request: Request) -> Visitor:
    return Visitor(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


def _show(
    request: Request,
    center: PrivacyCenter,
    view: CenterView,
    token: str,
    *,
    done: str = "",
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    nonce = request.cookies.get(COOKIE) or secrets.token_urlsafe(18)
    body = _PAGES.get_template("center").render(
        title="Your privacy",
        view=view,
        base=f"/p/{token}",
        tokens={a: center.action_token(view, a) for a in ACTIONS},
        csrf=center.csrf_token(view, nonce),
        done=done,
        error=error,
    )
    response = HTMLResponse(body, status_code=status)
    secure = str(request.url).startswith("https://")
    response.set_cookie(
        COOKIE, nonce, max_age=3600, path="/p", httponly=True, secure=secure, samesite="strict"
    )
    return response


class ActionFields(BaseModel):
    """The fields of a privacy-center form post."""

    token: str = Field(default="", max_length=2000)
    csrf: str = Field(default="", max_length=2000)
    keep: list[str] = Field(default_factory=list, max_length=500)
    confirm: str = Field(default="", max_length=10)


def _perform(  # noqa: PLR0917 (the request, the opened center and the form)
    request: Request,
    center: PrivacyCenter,
    view: CenterView,
    token: str,
    action: str,
    fields: ActionFields,
) -> Response:
    visitor = _visitor(request)
    if action == "download":
        headers = {"Content-Disposition": 'attachment; filename="my-data.json"'}
        return Response(
            center.download(view, visitor), media_type="application/json", headers=headers
        )
    if action == "delete":
        if fields.confirm != "yes":
            error = "Tick the box to confirm that everything is to be erased."
            return _show(request, center, view, token, error=error, status=422)
        center.act(view, RequestType.ERASURE, visitor)
        return _message(
            "Your data is erased",
            "Everything we held about you is deleted. We keep only a one-way "
            "fingerprint of your address, so that we never write to it again.",
            200,
        )
    if action == "subscriptions":
        center.keep_lists(view, set(fields.keep), visitor)
    elif action == "restrict":
        center.act(view, RequestType.RESTRICTION, visitor)
    elif action == "marketing":
        center.act(view, RequestType.OBJECTION, visitor, ObjectionGround.DIRECT_MARKETING)
    else:
        center.act(view, RequestType.OBJECTION, visitor, ObjectionGround.PROFILING)
    # Back to this same center page (never a URL given by the request).
    return RedirectResponse(f"/p/{token}?done={action}", status_code=303)


def center_router(limiter: RateLimiter | None = None) -> APIRouter:
    """The privacy-center pages; `limiter` counts requests per IP (in memory by default)."""
    router = APIRouter(prefix="/p", tags=["privacy center"], include_in_schema=False)
    limits = limiter or MemoryRateLimiter(limit=60, window_seconds=600)

    def allowed(request: Request) -> bool:
        return limits.allow(f"privacy:{request.client.host if request.client else ''}")

    @router.get("/{token}", response_class=HTMLResponse)
    def center_page(
        request: Request, token: str, services: ServicesDep, done: str = ""
    ) -> HTMLResponse:
        if not allowed(request):
            return _message("Too many requests", "Please try again in a few minutes.", 429)
        center = services.privacy_center
        view = center.open(token)
        if view is None:
            return _missing()
        return _show(request, center, view, token, done=DONE.get(done, ""))

    @router.post("/{token}/{action}", response_model=None)
    def center_action(
        request: Request,
        token: str,
        action: str,
        services: ServicesDep,
        fields: Annotated[ActionFields, Form()],
    ) -> Response:
        if not allowed(request):
            return _message("Too many requests", "Please try again in a few minutes.", 429)
        center = services.privacy_center
        view = center.open(token)
        nonce = request.cookies.get(COOKIE, "")
        if view is None or not center.check(view, action, fields.token, fields.csrf, nonce):
            return _missing()
        return _perform(request, center, view, token, action, fields)

    return router
