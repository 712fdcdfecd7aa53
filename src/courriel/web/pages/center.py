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

from courriel.config import Settings
from courriel.core.errors import CourrielError
from courriel.privacy.center import ACTIONS, CenterView, PrivacyCenter, Visitor
from courriel.privacy.models import ObjectionGround, RequestType
from courriel.web.deps import ServicesDep
from courriel.web.pages.base import brand_of, branded_headers, page_templates
from courriel.web.ratelimit import MemoryRateLimiter, RateLimiter

COOKIE = "courriel_privacy"
# The center speaks the contact's language (`contacts.language`), English otherwise.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your privacy",
        "for": "For",
        "lists": "Your lists",
        "save_lists": "Save my lists",
        "no_list": "You are on no list.",
        "held": "What we hold about you",
        "email": "Email address",
        "first_name": "First name",
        "last_name": "Last name",
        "language": "Language",
        "correct": "Correct my details",
        "correct_hint": "Wrong or abandoned address, misspelt name: give the right ones.",
        "data": "Your data",
        "download_hint": "Download everything we hold about you (JSON).",
        "download": "Download my data",
        "tracking": "Tracking",
        "tracking_off": "We do not track your opens and clicks.",
        "tracking_on_button": "Track again",
        "tracking_hint": "Stop recording when you open our emails or click their links.",
        "tracking_button": "Stop tracking me",
        "marketing": "Marketing",
        "marketing_off": "You receive no marketing from us.",
        "marketing_hint": (
            "Object to direct marketing: no newsletter or offer from any of our lists, ever."
        ),
        "marketing_button": "Stop all marketing",
        "restrict": "Restrict processing",
        "restricted": "Processing of your data is restricted.",
        "restrict_hint": (
            "Keep my data but use it for nothing: no emails, no segments, no profiling."
        ),
        "restrict_button": "Restrict processing",
        "delete": "Delete me",
        "delete_hint": "Erase everything we hold about you. This cannot be undone.",
        "delete_confirm": "I understand that all my data will be erased.",
        "delete_button": "Delete my data",
        "who": "Who is responsible",
        "controller": "Controller",
        "controller_unknown": "the sender of the emails you received",
        "dpo": "Data-protection officer",
        "dpo_none": "none named",
        "complaint": "Right to complain",
        "done_subscriptions": "Your lists are updated.",
        "done_restrict": (
            "Processing of your data is restricted: you will receive nothing from us."
        ),
        "done_tracking": "Your tracking choice is saved.",
        "done_marketing": "You will receive no marketing from us, from any list.",
        "done_correct": "Your details are corrected.",
    },
    "fr": {
        "title": "Vos données personnelles",
        "for": "Pour",
        "lists": "Vos listes",
        "save_lists": "Enregistrer mes listes",
        "no_list": "Vous n'êtes inscrit à aucune liste.",
        "held": "Ce que nous conservons sur vous",
        "email": "Adresse e-mail",
        "first_name": "Prénom",
        "last_name": "Nom",
        "language": "Langue",
        "correct": "Corriger mes informations",
        "correct_hint": "Adresse erronée ou abandonnée, nom mal orthographié : indiquez les bons.",
        "data": "Vos données",
        "download_hint": "Télécharger tout ce que nous conservons sur vous (JSON).",
        "download": "Télécharger mes données",
        "tracking": "Suivi",
        "tracking_off": "Nous ne suivons pas vos ouvertures et vos clics.",
        "tracking_on_button": "Réactiver le suivi",
        "tracking_hint": (
            "Ne plus enregistrer l'ouverture de nos e-mails ni les clics sur leurs liens."
        ),
        "tracking_button": "Ne plus me suivre",
        "marketing": "Prospection",
        "marketing_off": "Vous ne recevez plus aucune prospection de notre part.",
        "marketing_hint": (
            "Vous opposer à la prospection : plus aucune lettre ni offre, d'aucune liste."
        ),
        "marketing_button": "Arrêter toute prospection",
        "restrict": "Limiter le traitement",
        "restricted": "Le traitement de vos données est limité.",
        "restrict_hint": (
            "Conserver mes données sans les utiliser : ni e-mail, ni segment, ni profilage."
        ),
        "restrict_button": "Limiter le traitement",
        "delete": "M'effacer",
        "delete_hint": "Effacer tout ce que nous conservons sur vous. C'est définitif.",
        "delete_confirm": "Je comprends que toutes mes données seront effacées.",
        "delete_button": "Effacer mes données",
        "who": "Qui est responsable",
        "controller": "Responsable du traitement",
        "controller_unknown": "l'expéditeur des e-mails que vous avez reçus",
        "dpo": "Délégué à la protection des données",
        "dpo_none": "aucun désigné",
        "complaint": "Droit de réclamation",
        "done_subscriptions": "Vos listes sont à jour.",
        "done_restrict": "Le traitement de vos données est limité : vous ne recevrez plus rien.",
        "done_tracking": "Votre choix de suivi est enregistré.",
        "done_marketing": "Vous ne recevrez plus aucune prospection, d'aucune liste.",
        "done_correct": "Vos informations sont corrigées.",
    },
}
DONE = ("subscriptions", "restrict", "tracking", "marketing", "correct")
# The complaint route in French when the installation left the English default.
_COMPLAINT_FR = (
    "Vous pouvez introduire une réclamation auprès d'une autorité de contrôle, notamment "
    "dans l'État membre de votre résidence habituelle, de votre lieu de travail ou de "
    "l'infraction alléguée (RGPD art. 77) ; en France, la CNIL."
)


def texts_for(language: str | None) -> dict[str, str]:
    """The center's words in the contact's language (its primary subtag), else English."""
    primary = (language or "").split("-")[0].lower()
    return TEXTS.get(primary, TEXTS["en"])


_CENTER = """{% extends "base" %}{% block width %}34rem{% endblock %}{% block style %}
section{border-top:1px solid #e3e6ec;padding-top:.4rem}
label{display:flex;gap:.6rem;align-items:flex-start;margin:.4rem 0}
button{margin-top:.6rem;padding:.55rem 1.1rem}
th{text-align:left;padding-right:1rem}
{% endblock %}{% block body %}
<h1>{{ t.title }}</h1>
<p class="muted">{{ t.for }} {{ view.email }}</p>
{% if done %}<p class="done" role="status">{{ done }}</p>{% endif %}
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<section><h2>{{ t.lists }}</h2>
{% if view.lists %}<form method="post" action="{{ base }}/subscriptions">
<input type="hidden" name="token" value="{{ tokens.subscriptions }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
{% for item in view.lists %}<label><input type="checkbox" name="keep" value="{{ item.list_id }}"
{% if item.receiving %}checked{% else %}disabled{% endif %}>
<span><strong>{{ item.name }}</strong>{% if item.purpose %} — {{ item.purpose }}{% endif %}
{% if not item.receiving %}<br><span class="muted">({{ item.status }})</span>{% endif %}
</span></label>{% endfor %}
<button type="submit">{{ t.save_lists }}</button></form>
{% else %}<p class="muted">{{ t.no_list }}</p>{% endif %}</section>
<section><h2>{{ t.held }}</h2><table>
<tr><th>{{ t.email }}</th><td>{{ view.email }}</td></tr>
<tr><th>{{ t.first_name }}</th><td>{{ view.first_name or "" }}</td></tr>
<tr><th>{{ t.last_name }}</th><td>{{ view.last_name or "" }}</td></tr>
<tr><th>{{ t.language }}</th><td>{{ view.language or "" }}</td></tr>
{% for name, value in view.properties %}<tr><th>{{ name }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>
<h3>{{ t.correct }}</h3><p class="muted">{{ t.correct_hint }}</p>
<form method="post" action="{{ base }}/correct">
<input type="hidden" name="token" value="{{ tokens.correct }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label>{{ t.email }} <input type="email" name="email" value="{{ view.email }}"
maxlength="320"></label>
<label>{{ t.first_name }} <input name="first_name" value="{{ view.first_name or "" }}"
maxlength="200"></label>
<label>{{ t.last_name }} <input name="last_name" value="{{ view.last_name or "" }}"
maxlength="200"></label>
<button type="submit">{{ t.correct }}</button></form></section>
<section><h2>{{ t.data }}</h2><p>{{ t.download_hint }}</p>
<form method="post" action="{{ base }}/download">
<input type="hidden" name="token" value="{{ tokens.download }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">{{ t.download }}</button></form></section>
<section><h2>{{ t.tracking }}</h2>
{% if view.no_tracking %}<p>{{ t.tracking_off }}</p>{% else %}<p>{{ t.tracking_hint }}</p>
{% endif %}<form method="post" action="{{ base }}/tracking">
<input type="hidden" name="token" value="{{ tokens.tracking }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">{{ t.tracking_on_button if view.no_tracking else t.tracking_button }}</button>
</form></section>
<section><h2>{{ t.marketing }}</h2>
{% if view.no_marketing %}<p>{{ t.marketing_off }}</p>{% else %}
<p>{{ t.marketing_hint }}</p>
<form method="post" action="{{ base }}/marketing">
<input type="hidden" name="token" value="{{ tokens.marketing }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">{{ t.marketing_button }}</button></form>{% endif %}</section>
<section><h2>{{ t.restrict }}</h2>
{% if view.restricted %}<p>{{ t.restricted }}</p>{% else %}
<p>{{ t.restrict_hint }}</p>
<form method="post" action="{{ base }}/restrict">
<input type="hidden" name="token" value="{{ tokens.restrict }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">{{ t.restrict_button }}</button></form>{% endif %}</section>
<section><h2>{{ t.delete }}</h2><p>{{ t.delete_hint }}</p>
<form method="post" action="{{ base }}/delete">
<input type="hidden" name="token" value="{{ tokens.delete }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label><input type="checkbox" name="confirm" value="yes" required>
<span>{{ t.delete_confirm }}</span></label>
<button type="submit" class="danger">{{ t.delete_button }}</button></form></section>
<section><h2>{{ t.who }}</h2><table>
<tr><th>{{ t.controller }}</th><td>{{ view.notice.controller or t.controller_unknown }}</td></tr>
<tr><th>{{ t.dpo }}</th><td>{{ view.notice.dpo or t.dpo_none }}</td></tr>
<tr><th>{{ t.complaint }}</th><td>{{ complaint }}</td></tr></table></section>
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
    t = texts_for(view.language)
    complaint = view.notice.complaint
    if t is TEXTS["fr"] and complaint == Settings.model_fields["privacy_complaint"].default:
        complaint = _COMPLAINT_FR
    brand = brand_of(request, view.tenant_id)
    body = _PAGES.get_template("center").render(
        brand=brand,
        lang="fr" if t is TEXTS["fr"] else "en",
        title=t["title"],
        language="fr" if t is TEXTS["fr"] else "en",
        t=t,
        complaint=complaint,
        view=view,
        base=f"/p/{token}",
        tokens={a: center.action_token(view, a) for a in ACTIONS},
        csrf=center.csrf_token(view, nonce),
        done=done,
        error=error,
    )
    response = HTMLResponse(
        body, status_code=status, headers=branded_headers(request.url.path, brand)
    )
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
    email: str | None = Field(default=None, max_length=320)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)


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
    elif action == "correct":
        changes = {
            "email": (fields.email or "").strip() or view.email,
            "first_name": (fields.first_name or "").strip() or None,
            "last_name": (fields.last_name or "").strip() or None,
        }
        try:
            center.correct(view, changes, visitor)
        except CourrielError as exc:
            return _show(request, center, view, token, error=exc.detail, status=422)
    elif action == "marketing":
        center.act(view, RequestType.OBJECTION, visitor, ObjectionGround.DIRECT_MARKETING)
    else:
        # The same button stops tracking or, once stopped, turns it back on.
        center.act(
            view,
            RequestType.OBJECTION,
            visitor,
            ObjectionGround.PROFILING,
            lift=view.no_tracking,
        )
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
        shown = texts_for(view.language)[f"done_{done}"] if done in DONE else ""
        return _show(request, center, view, token, done=shown)

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
