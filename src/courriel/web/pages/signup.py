"""The public sign-up pages: hosted form, thank-you, confirmation.

No API key and not under /v1: these pages are for the people who subscribe.
Every page is rendered by Jinja2 with autoescape; every form carries a
signed, expiring token bound to the form and to a SameSite cookie (double
submit), a honeypot field, and a per-IP rate limit. The thank-you page is the
same whatever happened to the address (no enumeration).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from courriel.audience.branding import Brand
from courriel.audience.signup import PublicForm, Visitor
from courriel.core.addresses import normalize_address
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.web.deps import Services, ServicesDep, client_ip
from courriel.web.pages.base import logo_headers, page_templates
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
<label for="email">{{ t.email }}</label>
<input id="email" name="email" type="email" required maxlength="320" autocomplete="email"
 value="{{ email }}">
<input type="hidden" name="language" value="{{ lang }}">
<div class="trap" aria-hidden="true"><label for="website">{{ t.trap }}</label>
<input id="website" name="website" type="text" tabindex="-1" autocomplete="off"></div>
<label class="consent"><input type="checkbox" name="consent" value="yes" required>
<span>{{ form.consent_text }}</span></label>
<button type="submit">{{ t.subscribe }}</button>
</form>
{% if others %}<p class="muted">{% for code, name, url in others %}
<a href="{{ url }}" lang="{{ code }}" hreflang="{{ code }}">{{ name }}</a>
{%- if not loop.last %} · {% endif %}{% endfor %}</p>{% endif %}
{% endblock %}"""

_MESSAGE = """{% extends "base" %}{% block body %}
<h1>{{ title }}</h1><p>{{ message }}</p>
{% if token %}<form method="post" action="/f/confirm">
<input type="hidden" name="token" value="{{ token }}">
<input type="hidden" name="lang" value="{{ lang }}">
<button type="submit">{{ t.confirm_button }}</button></form>{% endif %}
{% endblock %}"""

_PAGES = page_templates({"form": _FORM, "message": _MESSAGE})

THANKS = (
    "Thank you. If this address can be subscribed, we have sent it an email: "
    "follow the link in it to confirm."
)
LANGUAGE_NAMES = {"en": "English", "fr": "Français"}
# What the pages themselves say, in each language a tenant may offer.
TEXT = {
    "en": {
        "email": "Email address",
        "trap": "Leave this empty",
        "subscribe": "Subscribe",
        "tick": "Tick the box to agree.",
        "invalid_email": "Enter a valid email address.",
        "refused_role": (
            "Use your own address rather than a shared one (such as contact@ or noreply@)."
        ),
        "refused_disposable": (
            "Addresses at throwaway email services cannot subscribe: use your usual address."
        ),
        "refused_typo": "Check the domain of your address.",
        "refused_no-mail": "This address's domain cannot receive email: check your address.",
        "did_you_mean": "Did you mean {address}?",
        "check_title": "Check your inbox",
        "check": THANKS,
        "expired_title": "Form expired",
        "expired": "This form has expired: reload the page.",
        "confirm_title": "Confirm your subscription",
        "confirm": "One click to confirm that you want to receive these emails.",
        "confirm_button": "Confirm my subscription",
        "invalid_title": "Link not valid",
        "invalid": "This link is invalid or has expired.",
        "subscribed": "You are subscribed",
    },
    "fr": {
        "email": "Adresse e-mail",
        "trap": "Laissez ce champ vide",
        "subscribe": "S'inscrire",
        "tick": "Cochez la case pour donner votre accord.",
        "invalid_email": "Saisissez une adresse e-mail valide.",
        "refused_role": (
            "Utilisez votre propre adresse plutôt qu'une adresse partagée "
            "(comme contact@ ou noreply@)."
        ),
        "refused_disposable": (
            "Les adresses de messageries jetables ne peuvent pas s'inscrire : "
            "utilisez votre adresse habituelle."
        ),
        "refused_typo": "Vérifiez le domaine de votre adresse.",
        "refused_no-mail": (
            "Le domaine de cette adresse ne peut pas recevoir d'e-mails : vérifiez votre adresse."
        ),
        "did_you_mean": "Vouliez-vous dire {address} ?",
        "check_title": "Consultez votre boîte de réception",
        "check": (
            "Merci. Si cette adresse peut être inscrite, nous lui avons envoyé un e-mail : "
            "suivez le lien qu'il contient pour confirmer."
        ),
        "expired_title": "Formulaire expiré",
        "expired": "Ce formulaire a expiré : rechargez la page.",
        "confirm_title": "Confirmez votre inscription",
        "confirm": "Un clic pour confirmer que vous souhaitez recevoir ces e-mails.",
        "confirm_button": "Confirmer mon inscription",
        "invalid_title": "Lien non valide",
        "invalid": "Ce lien n'est pas valide ou a expiré.",
        "subscribed": "Vous êtes inscrit",
    },
}


@dataclass(frozen=True)
class Look:
    """How a page looks and speaks: the tenant's branding and the visitor's language."""

    brand: Brand | None = None
    lang: str = "en"

    @property
    def text(self) -> dict[str, str]:
        """The page's own words in its language."""
        return TEXT.get(self.lang, TEXT["en"])


def _negotiate(brand: Brand, asked: str, accept: str) -> str:
    """The offered language asked for (?lang=), else the browser's first offered one."""
    if asked:
        return brand.language(asked)
    for part in accept.split(","):
        primary = part.split(";")[0].strip().split("-")[0].lower()
        if primary in brand.languages:
            return primary
    return brand.languages[0]


def _look(services: Services, tenant_id: str | None, request: Request, asked: str = "") -> Look:
    if tenant_id is None:
        return Look()
    try:
        brand = services.branding.of_tenant(tenant_id)
    except NotFoundError:
        return Look()
    return Look(brand, _negotiate(brand, asked, request.headers.get("accept-language", "")))


def _page(name: str, look: Look, path: str, status: int = 200, **values: object) -> HTMLResponse:
    body = _PAGES.get_template(name).render(brand=look.brand, lang=look.lang, t=look.text, **values)
    origin = look.brand.logo_origin if look.brand is not None else None
    return HTMLResponse(body, status_code=status, headers=logo_headers(path, origin))


def _message(  # noqa: PLR0917 - a page's title and message read best in order
    look: Look, path: str, title: str, message: str, status: int = 200, token: str = ""
) -> HTMLResponse:
    return _page("message", look, path, status, title=title, message=message, token=token)


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
    language: str = Field(default="", max_length=10)


def _show(
    request: Request,
    form: PublicForm,
    services: Services,
    look: Look,
    *,
    error: str = "",
    email: str = "",
) -> HTMLResponse:
    nonce = request.cookies.get(COOKIE) or secrets.token_urlsafe(18)
    path = f"/f/{form.tenant_id}/{form.form_id}"
    others = [
        (code, LANGUAGE_NAMES.get(code, code), f"{path}?lang={code}")
        for code in (look.brand.languages if look.brand else ())
        if code != look.lang
    ]
    response = _page(
        "form",
        look,
        path,
        422 if error else 200,
        others=others,
        title=form.title,
        form=form,
        csrf=services.signups.csrf_token(form, nonce),
        action=path,
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
    look = _look(services, form.tenant_id, request, fields.language)
    t, path = look.text, request.url.path
    if not services.signups.check_csrf(form, fields.csrf, request.cookies.get(COOKIE, "")):
        return _message(look, path, t["expired_title"], t["expired"], 403)
    if fields.website:
        # A bot: answer as usual, store nothing.
        return _message(look, path, t["check_title"], t["check"])
    if fields.consent != "yes":
        return _show(request, form, services, look, error=t["tick"], email=fields.email)
    try:
        address = normalize_address(fields.email)
    except InvalidInputError:
        return _show(request, form, services, look, error=t["invalid_email"], email=fields.email)
    refused = services.signups.refusal(form, address)
    if refused is not None:
        # Said on the form, in the visitor's language, with the field as typed.
        error = t[f"refused_{refused.kind.value}"]
        if refused.suggestion:
            error = t["did_you_mean"].format(address=refused.suggestion)
        return _show(request, form, services, look, error=error, email=fields.email)
    services.signups.submit(form, address, _visitor(request), look.lang)
    return _message(look, path, t["check_title"], t["check"])


def public_router(limiter: RateLimiter | None = None) -> APIRouter:
    """The public pages; `limiter` counts form posts per IP (in memory by default)."""
    router = APIRouter(prefix="/f", tags=["sign-up pages"], include_in_schema=False)
    limits = limiter or MemoryRateLimiter(limit=10, window_seconds=600)

    @router.get("/confirm", response_class=HTMLResponse)
    def confirm_page(
        request: Request, services: ServicesDep, token: str = "", lang: str = ""
    ) -> HTMLResponse:
        # A GET only shows a button: mail scanners that prefetch links must not confirm.
        token = token[:2000]
        look = _look(services, services.signups.tenant_of(token), request, lang[:10])
        t = look.text
        return _message(look, request.url.path, t["confirm_title"], t["confirm"], token=token)

    @router.post("/confirm", response_class=HTMLResponse)
    def confirm(
        request: Request,
        services: ServicesDep,
        token: Annotated[str, Form(max_length=2000)],
        lang: Annotated[str, Form(max_length=10)] = "",
    ) -> HTMLResponse:
        done = services.signups.confirm_for_page(token, _visitor(request))
        if done is None:
            look = _look(services, services.signups.tenant_of(token), request, lang)
            t = look.text
            return _message(look, request.url.path, t["invalid_title"], t["invalid"], 400)
        # The thank-you page: the tenant's words in the contact's language, in its look.
        look = _look(services, done.tenant_id, request, done.language)
        return _message(look, request.url.path, look.text["subscribed"], done.thanks)

    @router.get("/{tenant_id}/{form_id}", response_class=HTMLResponse)
    def form_page(
        request: Request, tenant_id: str, form_id: str, services: ServicesDep, lang: str = ""
    ) -> HTMLResponse:
        form = _load(services, tenant_id, form_id)
        if form is None:
            return _message(Look(), request.url.path, "Not found", "There is no such form.", 404)
        return _show(request, form, services, _look(services, tenant_id, request, lang[:10]))

    @router.post("/{tenant_id}/{form_id}", response_class=HTMLResponse)
    def submit(
        request: Request,
        tenant_id: str,
        form_id: str,
        services: ServicesDep,
        fields: Annotated[SignupFields, Form()],
    ) -> HTMLResponse:
        path = request.url.path
        if not limits.allow(f"signup:{client_ip(request) or ''}"):
            return _message(
                Look(), path, "Too many attempts", "Please try again in a few minutes.", 429
            )
        form = _load(services, tenant_id, form_id)
        if form is None:
            return _message(Look(), path, "Not found", "There is no such form.", 404)
        return _accept(request, form, services, fields)

    return router
