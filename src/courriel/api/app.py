"""The FastAPI application: every router under /v1, health probes, problem errors."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from courriel.accounts.routes import router as accounts_router
from courriel.api import problems
from courriel.audience.routes import router as audience_router
from courriel.audience.signup_pages import public_router as signup_pages_router
from courriel.campaigns.routes import router as campaigns_router
from courriel.campaigns.routes_control import router as campaign_control_router
from courriel.content.routes import router as content_router
from courriel.policy.routes import router as policy_router
from courriel.sandbox.routes import router as sandbox_router
from courriel.services import Services
from courriel.tracking import public as tracking_public


def create_app(services: Services) -> FastAPI:
    """Build the HTTP application over `services`."""
    app = FastAPI(
        title="Courriel",
        version="0.1.0",
        description="Consent-first Email Service Provider API. Authenticate with "
        "'Authorization: Bearer <API key>'. Errors are RFC 9457 problem+json.",
    )
    app.state.services = services
    problems.install(app)
    for router in (accounts_router, audience_router, content_router, campaigns_router):
        app.include_router(router, prefix="/v1")
    app.include_router(campaign_control_router, prefix="/v1")
    app.include_router(policy_router, prefix="/v1")
    tracking_public.install(app, services.tracker)
    if services.settings.resolver == "sandbox":
        app.include_router(sandbox_router, prefix="/v1")
    app.include_router(signup_pages_router())

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
