"""Signing in and out: the password form, the second-factor challenge, the home page.

A sign-in never adopts a token the browser already had: each step issues a
new session token (fixation). Wrong password, unknown address and a locked
account all get the same page; only the wait differs for a lock, and it is
the same for an unknown address as for a known one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from courriel.accounts.models import SessionStage
from courriel.accounts.sessions import SignedIn
from courriel.accounts.signin import WRONG
from courriel.core.errors import AuthenticationError, RateLimitedError
from courriel.web.deps import ServicesDep
from courriel.web.pages.accountbase import (
    NEXT_PAGE,
    account_templates,
    go,
    html,
    language_of,
    signed_in_at,
)
from courriel.web.sessioncookie import (
    CSRF_HEADER,
    check_csrf,
    check_pre_session,
    clear_session_cookie,
    client_of,
    pre_session_nonce,
    pre_session_token,
    session_token,
    set_pre_session,
    set_session_cookie,
)
from courriel.web.ui.i18n import N_, translations

_SIGN_IN = """{% extends "account" %}{% block page %}
<h1>{{ _("Sign in") }}</h1>
{% if reset %}<p class="done" role="status">
{{ _("Your password was changed; sign in with it.") }}</p>{% endif %}
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="/app/sign-in">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label for="email">{{ _("Email address") }}</label>
<input id="email" name="email" type="email" required maxlength="320" autocomplete="username"
 value="{{ email }}">
<label for="password">{{ _("Password") }}</label>
<input id="password" name="password" type="password" required maxlength="1000"
 autocomplete="current-password">
<button type="submit">{{ _("Sign in") }}</button>
</form>
<p><a href="/app/password-reset">{{ _("Forgot your password?") }}</a></p>{% endblock %}"""

_SECOND = """{% extends "account" %}{% block page %}
<h1>{{ _("Second factor") }}</h1>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
{% if totp %}<form method="post" action="/app/sign-in/second-factor">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label for="code">{{ _("Code from your authenticator app, or a recovery code") }}</label>
<input id="code" name="code" type="text" required maxlength="20" autocomplete="one-time-code"
 inputmode="text">
<button type="submit">{{ _("Continue") }}</button></form>{% endif %}
{% if passkey %}<p><button type="button" id="use-passkey" data-csrf="{{ csrf }}"
 data-options="/app/sign-in/passkey/options" data-finish="/app/sign-in/passkey">
{{ _("Use a passkey") }}</button></p><p id="passkey-error" class="error" hidden></p>
<script src="/app/passkeys.js"></script>{% endif %}
{% if not totp %}<form method="post" action="/app/sign-in/second-factor">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label for="code">{{ _("Or a recovery code") }}</label>
<input id="code" name="code" type="text" maxlength="20" autocomplete="one-time-code">
<button type="submit">{{ _("Continue") }}</button></form>{% endif %}
{% endblock %}"""

_PAGES = account_templates({"sign_in": _SIGN_IN, "second": _SECOND})
TOTP_OR_RECOVERY = N_("that code is not right")
TOO_MANY = N_("too many attempts; wait a moment")
# The sign-in service's refusal (accounts.signin.WRONG), marked here for the catalogues.
N_("wrong email or password")


def router() -> APIRouter:  # noqa: C901, PLR0915 (one route per page action)
    """The sign-in pages."""
    pages = APIRouter(prefix="/app", tags=["account pages"], include_in_schema=False)

    def sign_in_page(
        request: Request,
        services: ServicesDep,
        error: str = "",
        email: str = "",
        status: int = 200,
        *,
        reset: bool = False,
    ) -> HTMLResponse:
        nonce = pre_session_nonce(request, services.settings)
        language = language_of(request)
        body = _PAGES.get_template("sign_in", language).render(
            language=language,
            csrf=pre_session_token(services.secret_key, nonce),
            error=translations(language).gettext(error) if error else "",
            email=email,
            reset=reset,
            before_sign_in=True,
        )
        response = html(body, status)
        set_pre_session(response, services.settings, nonce)
        return response

    @pages.get("/sign-in", response_class=HTMLResponse)
    def sign_in_form(request: Request, services: ServicesDep, reset: str = "") -> HTMLResponse:
        return sign_in_page(request, services, reset=bool(reset))

    @pages.post("/sign-in", response_model=None)
    def sign_in(
        request: Request,
        services: ServicesDep,
        email: Annotated[str, Form(max_length=320)],
        password: Annotated[str, Form(max_length=1000)],
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        check_pre_session(request, services.settings, services.secret_key, csrf)
        client = client_of(request, services.settings)
        try:
            started = services.sign_in.password(email, password, client)
        except RateLimitedError as exc:
            response = sign_in_page(request, services, WRONG, email, 429)
            response.headers["retry-after"] = str(max(1, int(exc.retry_after + 0.999)))
            return response
        except AuthenticationError:
            return sign_in_page(request, services, WRONG, email, 401)
        # A token the browser came with is never adopted: it is ended.
        old = session_token(request, services.settings)
        if old:
            services.sessions.end(old)
        redirect = go(NEXT_PAGE[started.stage])
        set_session_cookie(redirect, services.settings, started.token)
        return redirect

    @pages.get("/sign-in/second-factor", response_class=HTMLResponse)
    def second_form(request: Request, services: ServicesDep) -> HTMLResponse:
        signed_in, _ = signed_in_at(request, services, {SessionStage.SECOND_FACTOR})
        return _second_page(request, services, signed_in)

    def _second_page(
        request: Request,
        services: ServicesDep,
        signed_in: SignedIn,
        error: str = "",
        status: int = 200,
    ) -> HTMLResponse:
        language = language_of(request, signed_in.user.language)
        body = _PAGES.get_template("second", language).render(
            language=language,
            csrf=signed_in.session.csrf_token,
            error=translations(language).gettext(error) if error else "",
            totp=signed_in.user.totp_enabled_at is not None,
            passkey=bool(services.passkeys.list(signed_in.user.id)),
        )
        return html(body, status)

    @pages.post("/sign-in/second-factor", response_model=None)
    def second(
        request: Request,
        services: ServicesDep,
        code: Annotated[str, Form(max_length=20)],
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        signed_in, token = signed_in_at(request, services, {SessionStage.SECOND_FACTOR})
        check_csrf(signed_in, csrf)
        client = client_of(request, services.settings)
        user = signed_in.user
        keys = [f"second:{user.id}", f"ip:{client.ip}"]
        try:
            services.sign_in.check_throttle(keys)
        except RateLimitedError as exc:
            response = _second_page(request, services, signed_in, TOO_MANY, 429)
            response.headers["retry-after"] = str(max(1, int(exc.retry_after + 0.999)))
            return response
        factor = None
        if services.totp.verify(user.id, code):
            factor = "totp"
        elif services.totp.use_recovery_code(user.id, code):
            factor = "recovery_code"
        if factor is None:
            services.sign_in.failed(keys)
            services.sign_in.audit(user, "auth.second_factor_failed", client, "totp", "wrong code")
            return _second_page(request, services, signed_in, TOTP_OR_RECOVERY, 401)
        services.sign_in.succeeded(keys[0])
        new = services.sign_in.passed_second_factor(signed_in, token, factor, client)
        resolved = services.sessions.resolve(new)
        assert resolved is not None
        redirect = go(NEXT_PAGE[resolved.stage])
        set_session_cookie(redirect, services.settings, new)
        return redirect

    @pages.post("/sign-in/passkey/options")
    def passkey_options(request: Request, services: ServicesDep) -> Response:
        signed_in, token = signed_in_at(request, services, {SessionStage.SECOND_FACTOR})
        check_csrf(signed_in, request.headers.get(CSRF_HEADER))
        ceremony = services.passkeys.begin_authentication(signed_in.user.id)
        services.sessions.set_challenge(token, ceremony.challenge)
        return Response(ceremony.options_json, media_type="application/json")

    @pages.post("/sign-in/passkey")
    async def passkey_finish(request: Request, services: ServicesDep) -> Response:
        signed_in, token = signed_in_at(request, services, {SessionStage.SECOND_FACTOR})
        check_csrf(signed_in, request.headers.get(CSRF_HEADER))
        body = (await request.body())[:20_000].decode("utf-8", errors="replace")
        client = client_of(request, services.settings)
        user = signed_in.user
        keys = [f"second:{user.id}", f"ip:{client.ip}"]
        services.sign_in.check_throttle(keys)
        challenge = signed_in.session.challenge
        services.sessions.set_challenge(token, None)
        if not challenge or not services.passkeys.finish_authentication(user.id, challenge, body):
            services.sign_in.failed(keys)
            services.sign_in.audit(
                user, "auth.second_factor_failed", client, "passkey", "not accepted"
            )
            return JSONResponse({"error": "the passkey was not accepted"}, status_code=401)
        services.sign_in.succeeded(keys[0])
        new = services.sign_in.passed_second_factor(signed_in, token, "passkey", client)
        resolved = services.sessions.resolve(new)
        assert resolved is not None
        response = JSONResponse({"next": NEXT_PAGE[resolved.stage]})
        set_session_cookie(response, services.settings, new)
        return response

    @pages.post("/sign-out", response_model=None)
    def sign_out(
        request: Request, services: ServicesDep, csrf: Annotated[str, Form(max_length=200)] = ""
    ) -> Response:
        signed_in, token = signed_in_at(request, services, set(SessionStage))
        check_csrf(signed_in, csrf)
        services.sessions.end(token)
        response = go("/app/sign-in")
        clear_session_cookie(response, services.settings)
        return response

    return pages
