"""Segments: the saved filters, an editor of the segment language that shows
an error where it is (line, column, a marker under the text), and a live count
of the contacts an expression selects (htmx, after the author pauses)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from courriel.audience.segments.parser import SegmentError
from courriel.core.errors import InvalidInputError
from courriel.core.principal import Capability
from courriel.web.deps import ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import ViewerDep

PAGE = 50
MAX_EXPRESSION = 4000
_POSITION = re.compile(r"^at position \d+: ")
# What the marker underlines: the word, number, string or sign at the position.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[A-Za-z0-9_.\-]+|!=|<=|>=|\S')

Name = Annotated[str, Form(max_length=200)]
Expression = Annotated[str, Form(max_length=MAX_EXPRESSION)]


@dataclass(frozen=True)
class Located:
    """A segment error placed in the text: 1-based line and column, the line, its marker."""

    line: int
    column: int
    text: str
    marker: str
    reason: str


def locate(expression: str, error: SegmentError) -> Located:
    """Where in `expression` the error is, with a caret marker under the offending text."""
    position = max(0, min(error.position, len(expression)))
    before = expression[:position]
    line = before.count("\n") + 1
    start = before.rfind("\n") + 1
    end = expression.find("\n", position)
    text = expression[start : end if end != -1 else len(expression)]
    column = position - start + 1
    found = _TOKEN.match(expression, position)
    width = len(found.group(0)) if found and "\n" not in found.group(0) else 1
    # Tabs keep their width in the marker line, so the caret sits under the text.
    pad = "".join("\t" if c == "\t" else " " for c in text[: column - 1])
    return Located(line, column, text, pad + "^" * width, _POSITION.sub("", error.reason))


def _check(services: ServicesDep, viewer: ViewerDep, expression: str) -> dict[str, Any]:
    """The live count of `expression`, or where it went wrong."""
    if not expression.strip():
        return {"count": None, "located": None}
    try:
        return {
            "count": services.audience.segments.count(viewer.principal, expression),
            "located": None,
        }
    except SegmentError as exc:
        return {"count": None, "located": locate(expression, exc)}


def router() -> APIRouter:
    """The segment pages."""
    pages = APIRouter(prefix="/app/segments", include_in_schema=False)

    @pages.get("", response_class=HTMLResponse)
    def segments(
        request: Request, viewer: ViewerDep, services: ServicesDep, after: str | None = None
    ) -> HTMLResponse:
        page = services.audience.segments.saved(viewer.principal, after, PAGE)
        next_url = f"/app/segments?after={page.next_cursor}" if page.next_cursor else None
        return render(
            request,
            viewer,
            "segments/list.html",
            title=N_("Segments"),
            segments=page.items,
            next_url=next_url,
            first_url="/app/segments" if after else None,
            can_write=viewer.can(Capability.LISTS_WRITE),
        )

    @pages.get("/new", response_class=HTMLResponse)
    def new(request: Request, viewer: ViewerDep) -> HTMLResponse:
        viewer.principal.require(Capability.LISTS_WRITE)
        return _editor(
            request,
            viewer,
            {"count": None, "located": None},
            segment_id=None,
            name="",
            expression="",
        )

    @pages.post("", response_model=None)
    def create(
        request: Request,
        *,
        viewer: ViewerDep,
        services: ServicesDep,
        name: Name = "",
        expression: Expression = "",
    ) -> HTMLResponse | RedirectResponse:
        try:
            saved = services.audience.segments.create(viewer.principal, name, expression)
        except InvalidInputError as exc:
            return _refused(
                request,
                viewer,
                services,
                segment_id=None,
                name=name,
                expression=expression,
                exc=exc,
            )
        return RedirectResponse(f"/app/segments/{saved.segment.id}?saved=true", status_code=303)

    @pages.post("/count", response_class=HTMLResponse)
    def count(
        request: Request, viewer: ViewerDep, services: ServicesDep, expression: Expression = ""
    ) -> HTMLResponse:
        # Always 200: the fragment says what is wrong, htmx swaps it in.
        return render(
            request, viewer, "segments/_check.html", **_check(services, viewer, expression)
        )

    @pages.get("/{segment_id}", response_class=HTMLResponse)
    def edit(
        request: Request,
        *,
        segment_id: str,
        viewer: ViewerDep,
        services: ServicesDep,
        saved: bool = False,
    ) -> HTMLResponse:
        # The count kept from the last save: counting a million contacts on every
        # view would not be a page; typing in the editor counts live.
        segment = services.audience.segments.stored(viewer.principal, segment_id)
        return _editor(
            request,
            viewer,
            {"count": segment.last_count, "located": None, "counted_at": segment.counted_at},
            segment_id=segment.id,
            name=segment.name,
            expression=segment.expression,
            saved=saved,
        )

    @pages.post("/{segment_id}", response_model=None)
    def update(
        request: Request,
        *,
        segment_id: str,
        viewer: ViewerDep,
        services: ServicesDep,
        name: Name = "",
        expression: Expression = "",
    ) -> HTMLResponse | RedirectResponse:
        try:
            services.audience.segments.update(viewer.principal, segment_id, name, expression)
        except InvalidInputError as exc:
            return _refused(
                request,
                viewer,
                services,
                segment_id=segment_id,
                name=name,
                expression=expression,
                exc=exc,
            )
        return RedirectResponse(f"/app/segments/{segment_id}?saved=true", status_code=303)

    return pages


def _refused(
    request: Request,
    viewer: ViewerDep,
    services: ServicesDep,
    *,
    segment_id: str | None,
    name: str,
    expression: str,
    exc: InvalidInputError,
) -> HTMLResponse:
    """The editor again (422) with the author's text and the error where it belongs."""
    errors: dict[str, str] = {}
    if isinstance(exc, SegmentError):
        check: dict[str, Any] = {"count": None, "located": locate(expression, exc)}
    else:
        check = _check(services, viewer, expression)
        errors = {"name" if exc.field == "name" else "expression": exc.reason}
    return _editor(
        request,
        viewer,
        check,
        segment_id=segment_id,
        name=name,
        expression=expression,
        status=422,
        errors=errors,
    )


def _editor(
    request: Request,
    viewer: ViewerDep,
    check: dict[str, Any],
    *,
    segment_id: str | None,
    name: str,
    expression: str,
    status: int = 200,
    saved: bool = False,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        viewer,
        "segments/edit.html",
        status=status,
        title=N_("Edit segment") if segment_id else N_("New segment"),
        segment_id=segment_id,
        name=name,
        expression=expression,
        saved=saved,
        errors=errors or {},
        can_write=viewer.can(Capability.LISTS_WRITE),
        **check,
    )
