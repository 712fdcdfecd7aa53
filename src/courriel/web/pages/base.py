"""What every public page shares: one layout and one set of security headers.

Public pages are what recipients and visitors see (sign-up forms, the
privacy center, re-permission and unsubscribe pages). They are rendered from
templates that extend the one `base` layout (autoescaped, no external
asset: the style is inline, so nothing calls another host), and every HTML
response of the application leaves through `PageHeaders`, which adds the
security headers. A page may be framed only where that is its purpose: the
sign-up form, which senders embed in their own sites.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fastapi import Request
from jinja2 import DictLoader, Environment
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from courriel.audience.branding import Brand
from courriel.core.errors import CourrielError
from courriel.web.deps import services

BASE = """<!doctype html>
<html lang="{{ language or lang or 'en' }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title or "Courriel" }}</title>
<style>
body{font:16px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;background:#f5f6f8;margin:0;
color:#1d2330}
main{max-width:{% block width %}30rem{% endblock %};margin:2rem auto;background:#fff;
border-radius:10px;padding:1.5rem 1.75rem;box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:1.35rem;margin:0 0 .5rem}h2{font-size:1.05rem;margin:1.6rem 0 .4rem}
button{margin-top:1.2rem;background:#2456d6;color:#fff;border:0;border-radius:6px;
padding:.65rem 1.2rem;font:inherit;font-weight:600;cursor:pointer}
button.danger{background:#b42318}
.muted{color:#5b6477;font-size:.92rem}
.done{background:#e7f6ec;color:#14532d;padding:.5rem .75rem;border-radius:6px}
.error{background:#fdecec;color:#9b1c1c;padding:.5rem .75rem;border-radius:6px}
.brand{display:flex;align-items:center;gap:.75rem;margin:0 0 1rem}
.brand img{max-height:3rem;max-width:12rem}.brand p{margin:0;font-weight:700;font-size:1.1rem}
footer.brand-footer{margin-top:1.5rem;white-space:pre-line}
{% if brand %}body{background:{{ brand.background }}}
button:not(.danger){background:{{ brand.colour }}}.brand p{color:{{ brand.colour }}}{% endif %}
{% block style %}{% endblock %}
</style></head><body><main>
{% if brand and (brand.logo_url or brand.organisation) %}<header class="brand">
{% if brand.logo_url %}<img src="{{ brand.logo_url }}"
 alt="{{ '' if brand.organisation else 'Logo' }}">{% endif %}
{% if brand.organisation %}<p>{{ brand.organisation }}</p>{% endif %}</header>{% endif %}
{% block body %}{% endblock %}
{% if brand and brand.footer %}
<footer class="muted brand-footer">{{ brand.footer }}</footer>{% endif %}
</main></body></html>
"""

MESSAGE = """{% extends "base" %}{% block body %}
<h1>{{ title }}</h1><p>{{ message }}</p>{% block after %}{% endblock %}{% endblock %}"""


def page_templates(templates: Mapping[str, str]) -> Environment:
    """An autoescaping environment of a page module's templates, beside `base` and `message`."""
    return Environment(
        loader=DictLoader({"base": BASE, "message": MESSAGE, **templates}), autoescape=True
    )


_COMMON = {
    # Tokens in page URLs must not leak to other sites through the Referer.
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"
SECURITY_HEADERS = {
    **_COMMON,
    "content-security-policy": f"{_CSP}; frame-ancestors 'none'",
    "x-frame-options": "DENY",
}
EMBEDDABLE_HEADERS = {**_COMMON, "content-security-policy": _CSP}
# The team's pages (/app/…): their own scripts, styles and images from /static/
# (htmx, uPlot, the passkey script), requests back home only, previews framed
# by the application itself.
APP_HEADERS = {
    **SECURITY_HEADERS,
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
}

# The sign-up form itself (GET and POST), not its confirmation page.
_EMBEDDABLE = re.compile(r"/f/(?!confirm$)[^/]+/[^/]+")
# Public page prefixes: their redirects and downloads get the headers too.
_PAGE_PREFIXES = ("/f/", "/p/", "/r/", "/u/", "/app")


def headers_for(path: str) -> dict[str, str]:
    """The security headers of a page at `path`."""
    if path == "/app" or path.startswith("/app/"):
        return APP_HEADERS
    return EMBEDDABLE_HEADERS if _EMBEDDABLE.fullmatch(path) else SECURITY_HEADERS


def logo_headers(path: str, logo_origin: str | None) -> dict[str, str]:
    """The page's policy allowing its branded logo's origin, when it has one (else none)."""
    if not logo_origin:
        return {}
    policy = headers_for(path)["content-security-policy"]
    return {
        "content-security-policy": policy.replace(
            "default-src 'none';", f"default-src 'none'; img-src {logo_origin};", 1
        )
    }


def brand_of(request: Request, tenant_id: str | None) -> Brand | None:
    """The tenant's branding for one of its public pages (None: the plain look)."""
    if tenant_id is None:
        return None
    try:
        return services(request).branding.of_tenant(tenant_id)
    except CourrielError:
        return None


def branded_headers(path: str, brand: Brand | None) -> dict[str, str]:
    """The headers a branded page adds (its logo's origin, if it shows one)."""
    return logo_headers(path, brand.logo_origin if brand is not None else None)


class PageHeaders:
    """ASGI middleware: the security headers on every HTML page and public-page response.

    A header the response set itself is kept (a download names its own
    Content-Disposition; the register export its own policy).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        public = path.startswith(_PAGE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {name.lower() for name, _ in raw}
                html = any(
                    name.lower() == b"content-type" and value.startswith(b"text/html")
                    for name, value in raw
                )
                if html or public:
                    raw.extend(
                        (name.encode(), value.encode())
                        for name, value in headers_for(path).items()
                        if name.encode() not in present
                    )
                    message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)
