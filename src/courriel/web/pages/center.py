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
from jinja2 import DictLoader, Environment
from pydantic import BaseModel, Field

from courriel.privacy.center import ACTIONS, CenterView, PrivacyCenter, Visitor
from courriel.privacy.request_models import RequestType
from courriel.web.deps import ServicesDep
from courriel.web.ratelimit import MemoryRateLimiter, RateLimiter

COOKIE = "courriel_privacy"
HEADERS = {
    # The token in the URL must not leak to other sites, and the page cannot be framed.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
DONE = {
    "subscriptions": "Your lists are updated.",
    "restrict": "Processing of your data is restricted: you will receive nothing from us.",
    "tracking": "We no longer track whether you open or click our emails.",
}

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font:16px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;background:#f5f6f8;margin:0;
color:#1d2330}
main{max-width:34rem;margin:2rem auto;background:#fff;border-radius:10px;padding:1.5rem 1.75rem;
box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:1.35rem;margin:0 0 .5rem}h2{font-size:1.05rem;margin:1.6rem 0 .4rem}
section{border-top:1px solid #e3e6ec;padding-top:.4rem}
label{display:flex;gap:.6rem;align-items:flex-start;margin:.4rem 0}
.muted{color:#5b6477;font-size:.92rem}
button{margin-top:.6rem;background:#2456d6;color:#fff;border:0;border-radius:6px;
padding:.55rem 1.1rem;font:inherit;font-weight:600;cursor:pointer}
button.danger{background:#b42318}
.done{background:#e7f6ec;color:#14532d;padding:.5rem .75rem;border-radius:6px}
.error{background:#fdecec;color:#9b1c1c;padding:.5rem .75rem;border-radius:6px}
</style></head><body><main>{% block body %}{% endblock %}</main></body></html>
"""

_CENTER = """{% extends "base" %}{% block body %}
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

_MESSAGE = """{% extends "base" %}{% block body %}
<h1>{{ title }}</h1><p>{{ message }}</p>{% endblock %}"""

_PAGES = Environment(
    loader=DictLoader({"base": _BASE, "center": _CENTER, "message": _MESSAGE}), autoescape=True
)


def _message(title: str, message: str, status: int) -> HTMLResponse:
    body = _PAGES.get_template("message").render(title=title, message=message)
    return HTMLResponse(body, status_code=status, headers=HEADERS)


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
    response = HTMLResponse(body, status_code=status, headers=HEADERS)
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
        headers = {**HEADERS, "Content-Disposition": 'attachment; filename="my-data.json"'}
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
    else:
        center.act(view, RequestType.OBJECTION, visitor)
    # Back to this same center page (never a URL given by the request).
    return RedirectResponse(f"/p/{token}?done={action}", status_code=303, headers=HEADERS)


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
