"""What the account pages share: their layout, the session guard, where each stage goes.

These are the team's pages (/app/…), not the recipients' public pages: every
one of them needs a session, except sign-in and the invitation page, and
every form carries a CSRF token.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, Template

from courriel.accounts.models import SessionStage, User
from courriel.accounts.sessions import SignedIn
from courriel.web.deps import Services
from courriel.web.pages.base import page_templates
from courriel.web.sessioncookie import session_token
from courriel.web.ui.i18n import DEFAULT, negotiate, translations

FORM_STYLE = """
label{display:block;margin:.9rem 0 .3rem;font-weight:600}
input[type=email],input[type=password],input[type=text]{width:100%;box-sizing:border-box;
padding:.6rem;border:1px solid #b9c0cc;border-radius:6px;font:inherit}
nav a{margin-right:1rem}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.3rem .4rem;border-bottom:1px solid #e3e6ea;font-size:.92rem}
code{background:#f0f2f5;padding:.1rem .3rem;border-radius:4px}
.codes{columns:2;font-family:monospace;font-size:1.05rem}
"""

NEXT_PAGE = {
    SessionStage.SECOND_FACTOR: "/app/sign-in/second-factor",
    SessionStage.ENROL: "/app/security",
    SessionStage.PASSWORD_CHANGE: "/app/password",
    SessionStage.FULL: "/app",
}


class AccountPages:
    """The account pages' templates in each language: their strings are marked
    with ``_()`` and translated from the application's Babel catalogues."""

    def __init__(self, templates: Mapping[str, str]) -> None:
        # Every page of a session offers to sign out (ASVS 5.0 V7.4.4).
        layout = (
            '{% extends "base" %}{% block width %}40rem{% endblock %}'
            "{% block style %}" + FORM_STYLE + "{% endblock %}"
            "{% block body %}{% block page %}{% endblock %}"
            '{% if csrf and not before_sign_in %}<form method="post" action="/app/sign-out">'
            '<input type="hidden" name="csrf" value="{{ csrf }}">'
            '<button type="submit" class="danger">{{ _("Sign out") }}</button></form>{% endif %}'
            "{% endblock %}"
        )
        self.sources = {"account": layout, **templates}
        self._environments: dict[str, Environment] = {}

    def get_template(self, name: str, language: str = DEFAULT) -> Template:
        """The template `name`, speaking `language`."""
        environment = self._environments.get(language)
        if environment is None:
            environment = page_templates(self.sources)
            environment.add_extension("jinja2.ext.i18n")
            environment.install_gettext_translations(  # type: ignore[attr-defined]
                translations(language), newstyle=True
            )
            self._environments[language] = environment
        return environment.get_template(name)


def account_templates(templates: Mapping[str, str]) -> AccountPages:
    """The account pages' templates (autoescaped, their style, every language)."""
    return AccountPages(templates)


def choose_password_page(  # noqa: PLR0917 (the form and what it shows)
    pages: AccountPages,
    template: str,
    request: Request,
    services: Services,
    user: User,
    token: str,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    """The form that sets `user`'s password from an emailed token (invitation, reset),
    with the length the tenant's policy asks for."""
    policy = services.credentials.policy(user.tenant_id)
    language = language_of(request, user.language)
    body = pages.get_template(template, language).render(
        language=language,
        token=token,
        email=user.email,
        error=error,
        min_length=policy.min_password_length,
    )
    return html(body, status)


def language_of(request: Request, chosen: str = "") -> str:
    """The page's language: the user's choice when known, else the browser's."""
    return negotiate(chosen, request.headers.get("accept-language", ""))


class NotSignedIn(Exception):  # noqa: N818 (a redirect, not a failure)
    """The page needs a session at another stage; carries where to go."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def signed_in_at(
    request: Request, services: Services, stages: Collection[SessionStage]
) -> tuple[SignedIn, str]:
    """The session (and its token) when it is at one of `stages`; else NotSignedIn."""
    token = session_token(request, services.settings)
    signed_in = services.sessions.resolve(token) if token else None
    if signed_in is None or token is None:
        raise NotSignedIn("/app/sign-in")
    if signed_in.stage not in stages:
        raise NotSignedIn(NEXT_PAGE[signed_in.stage])
    return signed_in, token


def go(location: str) -> RedirectResponse:
    """A 303 to `location` (after a POST, the browser GETs it)."""
    return RedirectResponse(location, status_code=303)


def html(body: str, status: int = 200) -> HTMLResponse:
    """An HTML page."""
    return HTMLResponse(body, status_code=status)


def install(app: FastAPI) -> None:
    """Turn NotSignedIn into a redirect to the page the session needs."""

    async def on_not_signed_in(_request: Request, exc: Exception) -> RedirectResponse:
        assert isinstance(exc, NotSignedIn)
        return RedirectResponse(exc.location, status_code=303)

    app.add_exception_handler(NotSignedIn, on_not_signed_in)
