"""A user's own preferences: the language the application speaks to them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from courriel.web.deps import ServicesDep
from courriel.web.ui.i18n import LANGUAGES, N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import ViewerDep


def router() -> APIRouter:
    """The preferences page."""
    pages = APIRouter(prefix="/app", include_in_schema=False)

    @pages.get("/preferences", response_class=HTMLResponse)
    def preferences(request: Request, viewer: ViewerDep, saved: bool = False) -> HTMLResponse:
        return render(request, viewer, "preferences.html", title=N_("Preferences"), saved=saved)

    @pages.post("/preferences", response_model=None)
    def save(
        viewer: ViewerDep,
        services: ServicesDep,
        language: Annotated[str, Form(max_length=10)] = "",
    ) -> RedirectResponse:
        services.users.set_language(viewer.user.id, language, LANGUAGES)
        return RedirectResponse("/app/preferences?saved=true", status_code=303)

    return pages
