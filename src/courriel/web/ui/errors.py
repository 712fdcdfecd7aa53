"""Errors on the application's pages are pages too, in the layout, not JSON."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from courriel.web.deps import services
from courriel.web.sessioncookie import session_token
from courriel.web.ui.i18n import N_, negotiate, translations
from courriel.web.ui.render import environment

TITLES = {
    400: N_("Bad request"),
    401: N_("Not signed in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("Conflict"),
    422: N_("Invalid input"),
    429: N_("Too many requests"),
}


def wants_page(request: Request) -> bool:
    """Whether an error of `request` should be shown as a page: a browser's, under /app."""
    path = request.url.path
    if not (path == "/app" or path.startswith("/app/")):
        return False
    return "text/html" in request.headers.get("accept", "") or "hx-request" in request.headers


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    """The error `detail` as a page of the application, without the navigation.

    The viewer is not resolved again here: an error may be about the session itself.
    """
    found = services(request)
    token = session_token(request, found.settings)
    signed_in = found.sessions.resolve(token) if token else None
    chosen = signed_in.user.language if signed_in is not None else ""
    language = negotiate(chosen, request.headers.get("accept-language", ""))
    env = environment(language)
    body = env.get_template("error.html").render(
        viewer=None,
        csrf="",
        sections=[],
        current="",
        path=request.url.path,
        language=language,
        htmx=False,
        title=translations(language).gettext(TITLES.get(status, N_("Something went wrong"))),
        detail=detail,
    )
    return HTMLResponse(body, status_code=status)
