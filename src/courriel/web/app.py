"""The FastAPI application: every router under /v1, health probes, problem errors."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from courriel.core.audit import request_source_ip
from courriel.services import Services
from courriel.web import problems
from courriel.web.api.audience import router as audience_router
from courriel.web.api.audit import router as audit_router
from courriel.web.api.branding import router as branding_router
from courriel.web.api.campaign_control import router as campaign_control_router
from courriel.web.api.campaigns import router as campaigns_router
from courriel.web.api.governance import router as governance_router
from courriel.web.api.keys import router as accounts_router
from courriel.web.api.messages import router as messages_router
from courriel.web.api.policy import router as policy_router
from courriel.web.api.pools import router as pools_router
from courriel.web.api.privacy import router as privacy_rights_router
from courriel.web.api.roles import router as roles_router
from courriel.web.api.sandbox import router as sandbox_router
from courriel.web.api.templates import router as content_router
from courriel.web.api.users import router as users_router
from courriel.web.api.workflow_templates import router as workflow_templates_router
from courriel.web.api.workflows import router as workflows_router
from courriel.web.pages import accountbase, apidocs, invitation, reset, security, signin
from courriel.web.pages import tracking as tracking_public
from courriel.web.pages.base import PageHeaders
from courriel.web.pages.center import center_router
from courriel.web.pages.reconfirm import public_router as reconfirm_pages_router
from courriel.web.pages.signup import public_router as signup_pages_router
from courriel.web.telemetry import RequestTimer
from courriel.web.ui import routes as ui_routes


class SourceAddress:
    """Remembers the client address of each request for the audit trail."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client") if scope["type"] == "http" else None
        token = request_source_ip.set(client[0] if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            request_source_ip.reset(token)


def create_app(services: Services) -> FastAPI:
    """Build the HTTP application over `services`."""
    app = FastAPI(
        title="Courriel",
        version="0.1.0",
        description="Consent-first Email Service Provider API. Authenticate with "
        "'Authorization: Bearer <API key>'. Errors are RFC 9457 problem+json.",
        # FastAPI's own pages load their assets from a CDN; ours are vendored.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.services = services
    problems.install(app, ui_routes.page_errors)
    app.add_middleware(SourceAddress)
    app.add_middleware(PageHeaders)
    app.add_middleware(RequestTimer)
    for router in (accounts_router, audience_router, content_router, campaigns_router):
        app.include_router(router, prefix="/v1")
    app.include_router(campaign_control_router, prefix="/v1")
    app.include_router(policy_router, prefix="/v1")
    app.include_router(pools_router, prefix="/v1")
    app.include_router(audit_router, prefix="/v1")
    app.include_router(governance_router, prefix="/v1")
    app.include_router(privacy_rights_router, prefix="/v1")
    app.include_router(branding_router, prefix="/v1")
    # /v3.1/send (Mailjet's path) and /v1/messages.
    app.include_router(messages_router)
    app.include_router(roles_router, prefix="/v1")
    app.include_router(users_router, prefix="/v1")
    app.include_router(workflows_router, prefix="/v1")
    app.include_router(workflow_templates_router, prefix="/v1")
    tracking_public.install(app, services.tracker)
    if services.settings.resolver == "sandbox":
        app.include_router(sandbox_router, prefix="/v1")
    app.include_router(signup_pages_router())
    app.include_router(reconfirm_pages_router())
    app.include_router(center_router())
    apidocs.install(app)
    accountbase.install(app)
    app.include_router(signin.router())
    app.include_router(security.router())
    app.include_router(invitation.router())
    app.include_router(reset.router())
    ui_routes.install(app)
    _one_tag_each(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], response_model=None)
    def readyz() -> dict[str, str] | JSONResponse:
        """Readiness: the control and spool databases answer."""
        try:
            for engine in (services.storage.control_engine, services.storage.spool_engine):
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any database failure means not ready
            return problems.problem(503, "Not ready", "a database does not answer")
        return {"status": "ready"}

    return app


def _one_tag_each(app: FastAPI) -> None:
    """Give every operation one tag: the innermost router's.

    A router included in another with the same tag lists it twice, and one
    included from another capability's router lists both; Swagger UI then
    draws the operation twice under React keys that collide, and stops
    drawing the reference after the first tag (seen at /docs).
    """
    for route in app.routes:
        if isinstance(route, APIRoute) and route.tags:
            route.tags = [route.tags[-1]]
