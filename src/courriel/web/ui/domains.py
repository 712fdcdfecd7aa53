"""Sender domains: add one, the DNS records to publish, and their live status.

The records and checks come from `SenderDomainService` (as GET /v1/sender-domains
shows them); "Check now" looks them up in DNS (`verify`), and the status part
of the page refreshes itself through htmx while the domain is not ready.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from courriel.core.errors import InvalidInputError
from courriel.policy.domains import sending_problem
from courriel.policy.models import SenderDomain
from courriel.web.deps import ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer, ViewerDep

# What each record and check is for, as a person reads it.
PURPOSES = {
    "ownership": N_("Ownership (verification token)"),
    "spf": N_("SPF: our servers may send for the domain"),
    "dkim": N_("DKIM: the key our signatures use"),
    "dmarc": N_("DMARC: the policy receivers apply"),
}

# The bulk-sender rules (policy/bulksender.py), as a person reads them.
RULES = {
    "spf": N_("SPF authorizes our sending IPs"),
    "dkim": N_("DKIM signatures with the domain"),
    "alignment": N_("Aligned with the From domain (DMARC)"),
    "dmarc": N_("DMARC record published"),
    "one-click-unsubscribe": N_("One-click unsubscribe (RFC 8058)"),
    "unsubscribes-honoured": N_("Unsubscribes honoured within two days"),
    "complaint-rate": N_("Spam complaints under 0.3 % at each provider (30 days)"),
    "reverse-dns": N_("Reverse DNS of the sending IPs confirmed"),
}

# An open page of a domain that is not ready polls its status every 10 s
# (domain_status.html); a poll looks the records up again when the last check
# is at least this old, so each poll of one open page checks once.
RECHECK = dt.timedelta(seconds=8)


def _status(row: SenderDomain) -> dict[str, Any]:
    checks = [
        {"name": name, "label": PURPOSES[name], **row.checks[name]}
        for name in PURPOSES
        if name in row.checks
    ]
    return {"domain": row, "checks": checks, "problem": sending_problem(row)}


def _listing(
    request: Request,
    viewer: Viewer,
    services: ServicesDep,
    *,
    status: int = 200,
    value: str = "",
    error: str = "",
) -> HTMLResponse:
    rows = services.sender_domains.list_domains(viewer.principal)
    return render(
        request,
        viewer,
        "admin/domains.html",
        status=status,
        title=N_("Sender domains"),
        domains=[(row, sending_problem(row)) for row in rows],
        value=value,
        error=error,
    )


def router() -> APIRouter:
    """The sender-domain pages."""
    pages = APIRouter(prefix="/app/domains", include_in_schema=False)

    @pages.get("", response_class=HTMLResponse)
    def domains(*, request: Request, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
        return _listing(request, viewer, services)

    @pages.post("", response_model=None)
    def add(
        *,
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        domain: Annotated[str, Form(max_length=253)] = "",
    ) -> Response:
        try:
            row = services.sender_domains.add(viewer.principal, domain)
        except InvalidInputError as refused:
            return _listing(
                request, viewer, services, status=422, value=domain, error=refused.reason
            )
        return RedirectResponse(f"/app/domains/{row.domain}", status_code=303)

    @pages.get("/{domain}", response_class=HTMLResponse)
    def one(*, request: Request, domain: str, viewer: ViewerDep, services: ServicesDep) -> Response:
        row = services.sender_domains.get(viewer.principal, domain)
        records = services.sender_domains.records(viewer.principal, row.domain)
        labelled = [(PURPOSES.get(r.purpose, r.purpose), r) for r in records]
        return render(
            request,
            viewer,
            "admin/domain.html",
            title=N_("Sender domain"),
            records=labelled,
            **_status(row),
        )

    @pages.get("/{domain}/rules", response_class=HTMLResponse)
    def rules(
        *, request: Request, domain: str, viewer: ViewerDep, services: ServicesDep
    ) -> Response:
        # Looked up when asked (DNS and 30 days of events), not on every domain page view.
        checked = services.bulk_sender.check(viewer.principal, domain)
        return render(
            request,
            viewer,
            "admin/domain_rules.html",
            title=N_("Bulk-sender rules"),
            domain=domain,
            rules=[(RULES.get(r.name, r.name), r) for r in checked],
        )

    @pages.get("/{domain}/status", response_class=HTMLResponse)
    def status(
        *, request: Request, domain: str, viewer: ViewerDep, services: ServicesDep
    ) -> Response:
        # Polled by the page while the domain is not ready: the records are looked
        # up again once the last check is older than the polling interval, so the
        # status turns as soon as the person's DNS host publishes them.
        row = services.sender_domains.get(viewer.principal, domain)
        last = row.checked_at
        if sending_problem(row) and (last is None or services.clock.now() - last >= RECHECK):
            with contextlib.suppress(InvalidInputError):
                row = services.sender_domains.verify(viewer.principal, row.domain)
        return render(request, viewer, "admin/domain_status.html", **_status(row))

    @pages.post("/{domain}/verify", response_model=None)
    def verify(
        *, request: Request, domain: str, viewer: ViewerDep, services: ServicesDep
    ) -> Response:
        row = services.sender_domains.verify(viewer.principal, domain)
        if request.headers.get("hx-request") == "true":
            return render(request, viewer, "admin/domain_status.html", **_status(row))
        return RedirectResponse(f"/app/domains/{row.domain}", status_code=303)

    return pages
