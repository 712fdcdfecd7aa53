"""The signed-in user's own security: password, TOTP, passkeys, sessions.

A fully signed-in user sees these pages in the application's layout
(web/ui/account.py); the stages before keep the bare layout of sign-in.

Reachable at the `full` stage, and also at the stage that needs it: a
password to change (`password_change`) or a second factor to enrol
(`enrol`, when the team requires one). Moving past that stage issues a new
session id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from courriel.accounts.models import SessionStage
from courriel.accounts.sessions import SignedIn
from courriel.core.errors import AuthenticationError, ConflictError, InvalidInputError
from courriel.web.deps import ServicesDep
from courriel.web.pages.accountbase import NEXT_PAGE, account_templates, go, html, signed_in_at
from courriel.web.pages.passkeyscript import SCRIPT
from courriel.web.sessioncookie import CSRF_HEADER, check_csrf, client_of, set_session_cookie
from courriel.web.ui.account import account_page
from courriel.web.ui.i18n import N_

_CHANGE_FORM = """{% extends "account" %}{% block page %}
<h1>Change your password</h1>
{% if forced %}<p class="muted">Choose a new password before you go on.</p>{% endif %}
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
{% if done %}<p class="done">Your password was changed; your other sessions ended.</p>{% endif %}
<form method="post" action="/app/password"><input type="hidden" name="csrf" value="{{ csrf }}">
<label for="current">Current password</label>
<input id="current" name="current" type="password" required autocomplete="current-password">
<label for="new">New password (at least {{ min_length }} characters)</label>
<input id="new" name="new" type="password" required minlength="{{ min_length }}"
 maxlength="128" autocomplete="new-password">
<button type="submit">Change password</button></form>{% endblock %}"""

_SECURITY = """{% extends "account" %}{% block page %}
<h1>Two-factor authentication</h1>
{% if required %}<p class="muted">Your team requires a second factor: set one up to go on.</p>
{% endif %}
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
{% if codes %}<p class="done">Save these recovery codes now; each works once and they are not
shown again.</p><ul class="codes">{% for c in codes %}<li>{{ c }}</li>{% endfor %}</ul>
<p><a href="{{ next }}">Continue</a></p>{% endif %}
<h2>Authenticator app (TOTP)</h2>
{% if enrolment %}<p>Scan this code with your app, or type the key
<code>{{ enrolment.secret }}</code>.</p>{{ enrolment.qr_svg|safe }}
<form method="post" action="/app/security/totp/confirm">
<input type="hidden" name="csrf" value="{{ csrf }}">
<label for="code">The 6-digit code it shows</label>
<input id="code" name="code" type="text" required maxlength="6" inputmode="numeric"
 autocomplete="one-time-code"><button type="submit">Turn on</button></form>
{% elif totp %}<p class="done">On. {{ remaining }} recovery codes left.</p>
{% else %}<form method="post" action="/app/security/totp">
<input type="hidden" name="csrf" value="{{ csrf }}"><button type="submit">Set up</button></form>
{% endif %}
<h2>Passkeys</h2>
<ul>{% for p in passkeys %}<li>{{ p.name }}, added {{ p.created_at.date() }}</li>{% endfor %}</ul>
<p><button type="button" id="add-passkey" data-csrf="{{ csrf }}"
 data-options="/app/security/passkeys/options" data-finish="/app/security/passkeys">
Add a passkey</button></p><p id="passkey-error" class="error" hidden></p>
<script src="/app/passkeys.js"></script>
{% if full %}<p><a href="/app">Back</a></p>{% endif %}{% endblock %}"""

_PAGES = account_templates({"password": _CHANGE_FORM, "security": _SECURITY})
_ENROL_STAGES = {SessionStage.ENROL, SessionStage.FULL}


def router() -> APIRouter:  # noqa: C901, PLR0915 (one route per page action)
    """The security pages."""
    pages = APIRouter(prefix="/app", tags=["account pages"], include_in_schema=False)

    @pages.get("/passkeys.js")
    def passkeys_script() -> Response:
        return Response(SCRIPT, media_type="text/javascript")

    def password_page(  # noqa: PLR0917 (the page and what it shows)
        request: Request, services: ServicesDep, signed_in: SignedIn, token: str,
        error: str = "", status: int = 200, *, done: bool = False, error_on: str = "new",
    ) -> HTMLResponse:  # fmt: skip
        min_length = services.credentials.policy(signed_in.user.tenant_id).min_password_length
        if signed_in.stage is SessionStage.FULL:
            return account_page(
                request, services, signed_in, token, "password.html", status=status,
                title=N_("Change your password"), min_length=min_length, error=error,
                error_on=error_on, done=done,
            )  # fmt: skip
        body = _PAGES.get_template("password").render(
            csrf=signed_in.session.csrf_token,
            forced=signed_in.stage is SessionStage.PASSWORD_CHANGE,
            min_length=min_length,
            error=error,
            done=done,
        )
        return html(body, status)

    stages = {SessionStage.PASSWORD_CHANGE, SessionStage.FULL}

    @pages.get("/password", response_class=HTMLResponse)
    def password_form(request: Request, services: ServicesDep, done: str = "") -> HTMLResponse:
        signed_in, token = signed_in_at(request, services, stages)
        return password_page(request, services, signed_in, token, done=bool(done))

    @pages.post("/password", response_model=None)
    def password(
        request: Request,
        services: ServicesDep,
        current: Annotated[str, Form(max_length=1000)],
        new: Annotated[str, Form(max_length=1000)],
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        signed_in, token = signed_in_at(request, services, stages)
        check_csrf(signed_in, csrf)
        client = client_of(request, services.settings)
        keys = [f"password:{signed_in.user.id}", f"ip:{client.ip}"]
        services.sign_in.check_throttle(keys)
        try:
            services.credentials.change(signed_in.user.id, current, new, keep_session_token=token)
        except AuthenticationError as exc:
            services.sign_in.failed(keys)
            return password_page(
                request, services, signed_in, token, exc.detail, 401, error_on="current"
            )
        except InvalidInputError as exc:
            return password_page(
                request, services, signed_in, token, f"The new password {exc.reason}.", 422
            )
        # A new password is a privilege change: a new session id.
        new_token = services.sessions.rotate(token, SessionStage.FULL, signed_in.session.factors)
        forced = signed_in.stage is SessionStage.PASSWORD_CHANGE
        response = go("/app" if forced else "/app/password?done=1")
        set_session_cookie(response, services.settings, new_token)
        return response

    def security_page(
        request: Request,
        services: ServicesDep,
        signed_in: SignedIn,
        token: str,
        status: int = 200,
        **values: object,
    ) -> HTMLResponse:
        user = signed_in.user
        values.setdefault("next", "/app")
        found = {
            "totp": user.totp_enabled_at is not None,
            "remaining": services.totp.remaining_codes(user.id),
            "passkeys": services.passkeys.list(user.id),
        }
        if signed_in.stage is SessionStage.FULL:
            for name in ("error", "codes", "enrolment"):
                values.setdefault(name, None)
            return account_page(
                request, services, signed_in, token, "security.html", status=status,
                title=N_("Two-factor authentication"), **found, **values,
            )  # fmt: skip
        body = _PAGES.get_template("security").render(
            csrf=signed_in.session.csrf_token,
            required=signed_in.stage is SessionStage.ENROL,
            full=False,
            **found,
            **values,
        )
        return html(body, status)

    @pages.get("/security", response_class=HTMLResponse)
    def security(request: Request, services: ServicesDep) -> HTMLResponse:
        signed_in, token = signed_in_at(request, services, _ENROL_STAGES)
        return security_page(request, services, signed_in, token)

    @pages.post("/security/totp", response_class=HTMLResponse)
    def totp_begin(
        request: Request, services: ServicesDep, csrf: Annotated[str, Form(max_length=200)] = ""
    ) -> HTMLResponse:
        signed_in, token = signed_in_at(request, services, _ENROL_STAGES)
        check_csrf(signed_in, csrf)
        try:
            enrolment = services.totp.begin(signed_in.user.id)
        except ConflictError as exc:
            return security_page(request, services, signed_in, token, error=exc.detail)
        return security_page(request, services, signed_in, token, enrolment=enrolment)

    @pages.post("/security/totp/confirm", response_model=None)
    def totp_confirm(
        request: Request,
        services: ServicesDep,
        code: Annotated[str, Form(max_length=20)],
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        signed_in, token = signed_in_at(request, services, _ENROL_STAGES)
        check_csrf(signed_in, csrf)
        try:
            codes = services.totp.confirm(signed_in.user.id, code)
        except (ConflictError, InvalidInputError) as exc:
            return security_page(request, services, signed_in, token, 422, error=exc.detail)
        response, resolved, new = _after_enrolment(request, services, signed_in, token, "totp")
        page = security_page(
            request, services, resolved, new, codes=codes, next=NEXT_PAGE[resolved.stage]
        )
        for name, value in response.raw_headers:
            if name == b"set-cookie":
                page.raw_headers.append((name, value))
        return page

    @pages.post("/security/passkeys/options")
    def passkey_options(request: Request, services: ServicesDep) -> Response:
        signed_in, token = signed_in_at(request, services, _ENROL_STAGES)
        check_csrf(signed_in, request.headers.get(CSRF_HEADER))
        ceremony = services.passkeys.begin_registration(signed_in.user.id)
        services.sessions.set_challenge(token, ceremony.challenge)
        return Response(ceremony.options_json, media_type="application/json")

    @pages.post("/security/passkeys")
    async def passkey_add(request: Request, services: ServicesDep) -> Response:
        signed_in, token = signed_in_at(request, services, _ENROL_STAGES)
        check_csrf(signed_in, request.headers.get(CSRF_HEADER))
        body = (await request.body())[:20_000].decode("utf-8", errors="replace")
        challenge = signed_in.session.challenge
        services.sessions.set_challenge(token, None)
        if not challenge:
            return JSONResponse({"error": "start again"}, status_code=409)
        try:
            services.passkeys.finish_registration(signed_in.user.id, challenge, body)
        except InvalidInputError as exc:
            return JSONResponse({"error": exc.reason}, status_code=422)
        response, resolved, _new = _after_enrolment(request, services, signed_in, token, "passkey")
        json_response = JSONResponse({"next": NEXT_PAGE[resolved.stage]})
        for name, value in response.raw_headers:
            if name == b"set-cookie":
                json_response.raw_headers.append((name, value))
        return json_response

    @pages.get("/sessions", response_class=HTMLResponse)
    def sessions(request: Request, services: ServicesDep) -> HTMLResponse:
        signed_in, token = signed_in_at(request, services, {SessionStage.FULL})
        return account_page(
            request, services, signed_in, token, "sessions.html",
            title=N_("Your sessions"),
            sessions=services.sessions.list(signed_in.user.id),
            this_session=signed_in.session.id,
        )  # fmt: skip

    @pages.post("/sessions/end", response_model=None)
    def end_session(
        request: Request,
        services: ServicesDep,
        session: Annotated[str, Form(max_length=64)],
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        signed_in, _ = signed_in_at(request, services, {SessionStage.FULL})
        check_csrf(signed_in, csrf)
        services.sessions.end_one(signed_in.user.id, session)
        return go("/app/sessions")

    @pages.post("/sessions/end-all", response_model=None)
    def end_all(
        request: Request, services: ServicesDep, csrf: Annotated[str, Form(max_length=200)] = ""
    ) -> Response:
        signed_in, _ = signed_in_at(request, services, {SessionStage.FULL})
        check_csrf(signed_in, csrf)
        ended = services.sessions.end_all(signed_in.user.id)
        services.sign_in.audit(
            signed_in.user, "auth.signed_out_everywhere", client_of(request, services.settings),
            signed_in.session.factors, f"{ended} sessions",
        )  # fmt: skip
        return go("/app/sign-in")

    return pages


def _after_enrolment(
    request: Request, services: ServicesDep, signed_in: SignedIn, token: str, factor: str
) -> tuple[Response, SignedIn, str]:
    """A new session id once a factor is added; past `enrol` if that was the stage."""
    if signed_in.stage is SessionStage.ENROL:
        new = services.sign_in.passed_second_factor(
            signed_in, token, factor, client_of(request, services.settings)
        )
    else:
        new = services.sessions.rotate(token, signed_in.stage, signed_in.session.factors)
    # A new factor ends every other session: whoever held one loses it (V7.4.3).
    services.sessions.end_all(signed_in.user.id, keep_token=new)
    resolved = services.sessions.resolve(new)
    assert resolved is not None
    response = Response()
    set_session_cookie(response, services.settings, new)
    return response, resolved, new
