"""The public tracking endpoints recipients reach, at the root (no API key).

- ``GET /t/c/{token}``: a click → 302 to the link's stored URL, else 404.
- ``GET /t/o/{token}.gif``: the open pixel.
- ``GET /u/{token}``: a confirmation page; changes nothing.
- ``POST /u/{token}`` with ``List-Unsubscribe=One-Click``: unsubscribes at once
  (RFC 8058 §3.2): 200, no redirect, no cookie, no login, idempotent.

Clicks and opens are served by a small ASGI layer in front of the
application (`TrackingFastPath`): they are the busiest requests by far, and
need neither routing, dependencies nor JSON. Pages escape every value and
forbid framing and scripts.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from courriel.campaigns.viewonline import ViewOnline
from courriel.content.links import is_test_message, verify_view_online_token
from courriel.events.models import EventType
from courriel.tracking.tracker import Hit, Tracker
from courriel.web.api.events import router as events_router
from courriel.web.api.events import webhooks_router
from courriel.web.pages.base import brand_of, branded_headers, page_templates
from courriel.web.ui.i18n import negotiate, translations

# The smallest transparent GIF (43 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = (b"cache-control", b"no-store, private")
_NO_REFERRER = (b"referrer-policy", b"no-referrer")


class TrackingFastPath:
    """ASGI layer answering clicks and opens before the application's routing."""

    def __init__(self, app: ASGIApp, tracker: Tracker) -> None:
        self.app = app
        self.tracker = tracker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._on_shutdown(receive), send)
            return
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
        elif path.startswith("/t/c/"):
            await self._click(scope, path[5:], send)
        elif path.startswith("/t/o/") and path.endswith(".gif"):
            await self._open(scope, path[5:-4], send)
        else:
            await self.app(scope, receive, send)

    def _on_shutdown(self, receive: Receive) -> Receive:
        async def wrapped() -> Any:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                # Buffered hits are written before the process goes away.
                await self.tracker.close()
            return message

        return wrapped

    async def _click(self, scope: Scope, token: str, send: Send) -> None:
        ref = self.tracker.click_ref(token)
        if ref is None:
            await _not_found(send)
            return
        url = self.tracker.cached_target(ref)
        if url is None:
            url = await self.tracker.target(ref)
        if url is None:
            await _not_found(send)
            return
        await self._record(
            scope,
            Hit(
                EventType.CLICKED,
                ref.tenant_id,
                ref.message_id,
                self.tracker.now(),
                _agent(scope),
                ref.link_index,
                url,
            ),
        )
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [
                    (b"location", url.encode("ascii")),
                    (b"content-length", b"0"),
                    _NO_STORE,
                    _NO_REFERRER,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _open(self, scope: Scope, token: str, send: Send) -> None:
        ref = self.tracker.open_ref(token)
        if ref is None:
            await _not_found(send)
            return
        await self._record(
            scope,
            Hit(EventType.OPENED, ref.tenant_id, ref.message_id, self.tracker.now(), _agent(scope)),
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"image/gif"),
                    (b"content-length", str(len(PIXEL)).encode()),
                    _NO_STORE,
                ],
            }
        )
        body = b"" if scope["method"] == "HEAD" else PIXEL
        await send({"type": "http.response.body", "body": body})

    async def _record(self, scope: Scope, hit: Hit) -> None:
        # A HEAD is a link checker asking whether the URL works, not a reader.
        if scope["method"] == "HEAD":
            return
        self.tracker.ensure_flusher()
        if self.tracker.add_hit(hit):
            # The writes fall behind: this request waits for one rather than
            # the buffer growing without bound (no hit is ever dropped).
            await asyncio.to_thread(self.tracker.flush)


def _agent(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"user-agent":
            return str(value.decode("latin-1"))[:300]
    return ""


async def _not_found(send: Send) -> None:
    body = b"Not found\n"
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                _NO_STORE,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


router = APIRouter(tags=["recipients"], include_in_schema=False)


_UNSUBSCRIBE = """{% extends "base" %}{% block body %}<h1>{{ title }}</h1>
<p>{{ intro }}</p>
<ul>{% for name in names %}<li>{{ name }}</li>{% endfor %}</ul>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">\
<button type="submit">{{ button }}</button></form>{% endblock %}"""
_PAGES = page_templates({"unsubscribe": _UNSUBSCRIBE})


def _page(
    name: str,
    language: str,
    status: int = 200,
    *,
    request: Request | None = None,
    tenant_id: str = "",
    **values: object,
) -> HTMLResponse:
    # The sender's look on its recipients' pages, when the link names the sender.
    brand = brand_of(request, tenant_id) if request is not None and tenant_id else None
    body = _PAGES.get_template(name).render(language=language, brand=brand, **values)
    path = request.url.path if request is not None else "/u/"
    return HTMLResponse(body, status_code=status, headers=branded_headers(path, brand))


def _message(
    language: str,
    title: str,
    message: str,
    status: int = 200,
    *,
    request: Request | None = None,
    tenant_id: str = "",
) -> HTMLResponse:
    return _page(
        "message",
        language,
        status,
        request=request,
        tenant_id=tenant_id,
        title=title,
        message=message,
    )


def _language(request: Request, chosen: str = "") -> tuple[str, Callable[[str], str]]:
    """The recipient's language (theirs, else their browser's) and its gettext."""
    language = negotiate(chosen, request.headers.get("accept-language", ""))
    return language, translations(language).gettext


def _missing(request: Request) -> HTMLResponse:
    language, _ = _language(request)
    return _message(language, _("This link is not valid"), "", status=404)


def _test_send(request: Request) -> HTMLResponse:
    language, _ = _language(request)
    return _message(
        language,
        _("This was a test send"),
        _("In the campaign, this link lets its recipient unsubscribe. Nothing was changed."),
    )


def _tracker(request: Request) -> Tracker:
    tracker: Tracker = request.app.state.services.tracker
    return tracker


@router.get("/u/{token}")
def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    """Ask for confirmation; a GET never changes anything (link scanners follow GETs)."""
    tracker = _tracker(request)
    ref = tracker.unsubscribe_ref(token)
    if ref is not None and is_test_message(ref.message_id):
        return _test_send(request)
    lists = tracker.unsubscribe_lists(ref) if ref is not None else None
    if ref is None or lists is None:
        return _missing(request)
    language, _ = _language(request, tracker.recipient_language(ref))
    # The form posts exactly the RFC 8058 request and nothing more, to this
    # same capability URL: it needs no CSRF token (the token in the URL is
    # the only authority, and the action is the one a mail client may take).
    return _page(
        "unsubscribe",
        language,
        request=request,
        tenant_id=ref.tenant_id,
        title=_("Unsubscribe?"),
        intro=_("You will stop receiving mail from these lists:"),
        button=_("Unsubscribe"),
        names=[m.name for m in lists],
    )


@router.post("/u/{token}")
async def unsubscribe_one_click(token: str, request: Request) -> HTMLResponse:
    """RFC 8058 one-click: unsubscribe at once, 200, idempotent."""
    tracker = _tracker(request)
    ref = tracker.unsubscribe_ref(token)
    if ref is None:
        return _missing(request)
    if is_test_message(ref.message_id):
        return _test_send(request)
    form = await request.form()
    language, _ = _language(request, await asyncio.to_thread(tracker.recipient_language, ref))
    if form.get("List-Unsubscribe") != "One-Click":
        return _message(
            language,
            _("Nothing changed"),
            _("The request must carry List-Unsubscribe=One-Click (RFC 8058)."),
            status=400,
        )
    ip = request.client.host if request.client else None
    outcome = await asyncio.to_thread(
        tracker.unsubscribe, ref, ip, request.headers.get("user-agent")
    )
    if outcome is None:
        return _missing(request)
    return _message(
        language,
        _("You are unsubscribed"),
        _("You will get no more mail from these lists."),
        request=request,
        tenant_id=ref.tenant_id,
    )


# The message is the sender's HTML: it may show images and styles from where
# its author put them, never run a script, submit a form or be framed.
_VIEW_ONLINE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline' https:; "
        "font-src https: data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Robots-Tag": "noindex, nofollow",
}


@router.get("/v/{token}")
async def view_online(token: str, request: Request) -> HTMLResponse:
    """The campaign message as its recipient saw it (`{{ view_online_url }}`)."""
    view: ViewOnline = request.app.state.services.view_online
    ref = verify_view_online_token(request.app.state.services.secret_key, token)
    if ref is not None and is_test_message(ref.message_id):
        language, _ = _language(request)
        return _message(
            language,
            _("This was a test send"),
            _("In the campaign, this link shows the message as its recipient received it."),
        )
    found = await asyncio.to_thread(view.message, token)
    if found is None:
        return _missing(request)
    return HTMLResponse(found.html, headers=_VIEW_ONLINE_HEADERS)


def install(app: FastAPI, tracker: Tracker) -> None:
    """Mount the recipient-facing endpoints at the root of `app`, the APIs under /v1."""
    app.include_router(router)
    app.include_router(events_router, prefix="/v1")
    app.include_router(webhooks_router, prefix="/v1")
    app.add_middleware(TrackingFastPath, tracker=tracker)
