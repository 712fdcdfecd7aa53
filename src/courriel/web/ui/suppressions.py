"""Suppressions: the addresses never mailed, a page at a time; add one, lift a manual one.

Addresses are shown as the viewer's rights allow (masked when the email field
is hidden from them); an erased address is a hash alone. Searching looks one
address up by its keyed hash, so it costs one indexed read at any size.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from courriel.audience.models import Suppression, SuppressionReason
from courriel.core.errors import InvalidInputError
from courriel.core.principal import Capability
from courriel.web.deps import RowIdPath, ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer, ViewerDep
from courriel.web.ui.wording import said

PAGE = 50
REASONS = {
    SuppressionReason.HARD_BOUNCE: N_("hard bounce"),
    SuppressionReason.COMPLAINT: N_("complaint"),
    SuppressionReason.UNSUBSCRIBE: N_("unsubscribed from everything"),
    SuppressionReason.ERASURE: N_("erased (GDPR Art. 17)"),
    SuppressionReason.MANUAL: N_("added by hand"),
    SuppressionReason.OBJECTION: N_("objected to marketing"),
}
# What a person may add by hand (the service refuses the others).
ADDABLE = (SuppressionReason.MANUAL, SuppressionReason.UNSUBSCRIBE)


def _shown(viewer: Viewer, row: Suppression) -> dict[str, Any]:
    address = viewer.principal.shown("email", row.address) if row.address else None
    return {
        "id": row.id,
        "address": address,
        "hash": row.address_hash[:12],
        "reason": REASONS.get(row.reason, row.reason.value),
        "manual": row.reason is SuppressionReason.MANUAL,
        "detail": row.detail,
        "created_at": row.created_at,
    }


def _listing(
    request: Request,
    viewer: Viewer,
    services: ServicesDep,
    *,
    cursor: str | None = None,
    search: str = "",
    status: int = 200,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
) -> HTMLResponse:
    suppressions = services.audience.suppressions
    rows: list[Suppression] = []
    next_url = None
    search_error = ""
    if search:
        try:
            found = suppressions.find(viewer.principal, search)
        except InvalidInputError as bad:
            search_error = bad.reason
            status = 422
        else:
            rows = [found] if found is not None else []
    else:
        page = suppressions.list(viewer.principal, cursor, PAGE)
        rows = list(page.items)
        if page.next_cursor is not None:
            next_url = "/app/suppressions?" + urlencode({"cursor": page.next_cursor})
    return render(
        request,
        viewer,
        "admin/suppressions.html",
        status=status,
        title=N_("Suppressions"),
        rows=[_shown(viewer, row) for row in rows],
        next_url=next_url,
        first_url="/app/suppressions" if cursor else None,
        search=search,
        search_error=search_error,
        writable=viewer.can(Capability.CONTACTS_WRITE),
        reasons=[(r.value, REASONS[r]) for r in ADDABLE],
        form=form or {"address": "", "reason": "manual", "detail": ""},
        errors=errors or {},
        notice=notice,
    )


def router() -> APIRouter:
    """The suppression pages."""
    pages = APIRouter(prefix="/app/suppressions", include_in_schema=False)

    @pages.get("", response_class=HTMLResponse)
    def suppressions(
        *,
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        cursor: Annotated[str | None, Query(max_length=20)] = None,
        q: Annotated[str, Query(max_length=320)] = "",
        done: Annotated[str, Query(max_length=10)] = "",
    ) -> HTMLResponse:
        notice = {
            "added": N_("The address is suppressed."),
            "lifted": N_("The suppression is lifted."),
        }
        return _listing(
            request, viewer, services, cursor=cursor, search=q.strip(), notice=notice.get(done, "")
        )

    @pages.post("", response_model=None)
    def add(
        *,
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        address: Annotated[str, Form(max_length=320)] = "",
        reason: Annotated[str, Form(max_length=20)] = "manual",
        detail: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        form = {"address": address, "reason": reason, "detail": detail}
        chosen = next((r for r in ADDABLE if r.value == reason), None)
        if chosen is None:
            errors = {"reason": said(viewer, N_("Choose one of the reasons offered."))}
        else:
            try:
                services.audience.suppressions.add(viewer.principal, address, chosen, detail)
            except InvalidInputError as bad:
                errors = {bad.field: bad.reason}
            else:
                errors = {}
        if errors:
            return _listing(request, viewer, services, status=422, form=form, errors=errors)
        return RedirectResponse("/app/suppressions?done=added", status_code=303)

    @pages.post("/{suppression_id}/remove", response_model=None)
    def remove(
        *,
        suppression_id: RowIdPath,
        viewer: ViewerDep,
        services: ServicesDep,
        note: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        services.audience.suppressions.remove(viewer.principal, suppression_id, note)
        return RedirectResponse("/app/suppressions?done=lifted", status_code=303)

    return pages
