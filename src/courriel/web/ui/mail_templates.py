"""Templates: the list, an MJML or HTML editor with a live preview (for a chosen
contact or sample data, at desktop and mobile widths), the content checklist,
the versions, and a test send.

A customer's template is only ever rendered by the template service, in the
content sandbox; the page shows the result in sandboxed iframes (`srcdoc`, no
`allow-scripts`, no `allow-same-origin`), under the application's CSP, which
allows no remote load. A save that fails (MJML that does not compile, a
template syntax error) stores nothing: the current version stays as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from courriel.audience.search import ContactSearch
from courriel.content.service import Preview, TemplateContent
from courriel.core.errors import CourrielError, InvalidInputError
from courriel.core.principal import Capability, Principal
from courriel.services import Services
from courriel.web.deps import ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer, ViewerDep

PAGE = 50
# The versions listed on a template's page (older ones open by number: ?version=N).
VERSIONS = 30
MAX_SOURCE = 200_000
# What a preview shows when no contact is chosen.
SAMPLE: dict[str, Any] = {
    "email": "alex.sample@example.test",
    "first_name": "Alex",
    "last_name": "Sample",
}
STARTER = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text font-size="20px">Hello {{ contact.first_name }}!</mj-text>
        <mj-text>Write your message here.</mj-text>
        <mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""
CHECKS = {
    "unsubscribe_link": N_("Unsubscribe link"),
    "sender_identification": N_("Sender named"),
    "text_image_ratio": N_("Text and images"),
    "spammy_phrases": N_("Spammy phrases"),
    "forbidden_content": N_("Forbidden content"),
    "spamassassin": N_("SpamAssassin score"),
    "links": N_("Links"),
    "subject_length": N_("Subject length"),
    "link_check": N_("Links fetched"),
    "link_redirects": N_("Links leaving their domain"),
}
_ERROR_LINE = re.compile(r"template error on line (\d+):")
# Which form field an error of the template service belongs next to.
_FIELDS = {"name": "name", "subject": "subject", "preheader": "preheader"}

Text = Annotated[str, Form(max_length=998)]
Source = Annotated[str, Form(max_length=MAX_SOURCE)]
Address = Annotated[str, Form(max_length=320)]


@dataclass(frozen=True)
class Draft:
    """What the editor's form holds."""

    name: str = ""
    subject: str = ""
    preheader: str = ""
    source_format: str = "mjml"
    source: str = ""
    contact: str = ""

    def content(self) -> TemplateContent:
        """The draft as the template service reads it."""
        mjml = self.source_format != "html"
        return TemplateContent(
            subject=self.subject,
            html=None if mjml else self.source,
            mjml=self.source if mjml else None,
            preheader=self.preheader,
        )


def _draft(
    name: str, subject: str, preheader: str, source_format: str, source: str, *, contact: str
) -> Draft:
    fmt = "html" if source_format == "html" else "mjml"
    return Draft(name, subject, preheader, fmt, source, contact.strip())


def error_line(source: str, reason: str) -> tuple[int, str] | None:
    """The line of `source` a template syntax error names, to show under the error."""
    found = _ERROR_LINE.search(reason)
    lines = source.splitlines()
    if found is None or not 1 <= int(found.group(1)) <= len(lines):
        return None
    number = int(found.group(1))
    return number, lines[number - 1].strip()


def _contact_id(services: Services, principal: Principal, email: str) -> str:
    """The id of the contact with address `email` (a preview for a person)."""
    page = services.audience.list_contacts(principal, None, 1, ContactSearch(email=email))
    if not page.items:
        raise InvalidInputError("contact", f"no contact with the address {email!r}")
    return page.items[0].id


def _preview(
    services: Services,
    principal: Principal,
    contact: str,
    *,
    draft: Draft | None = None,
    template_id: str = "",
    version: int | None = None,
) -> dict[str, Any]:
    """The rendered preview, or the error that stopped it, for the page."""
    try:
        contact_id = _contact_id(services, principal, contact) if contact else None
        sample = None if contact_id else dict(SAMPLE)
        found: Preview
        if draft is not None:
            found = services.templates.preview_draft(
                principal, draft.content(), contact_id=contact_id, sample=sample
            )
        else:
            found = services.templates.preview(
                principal, template_id, version=version, contact_id=contact_id, sample=sample
            )
    except CourrielError as exc:
        reason = exc.reason if isinstance(exc, InvalidInputError) else str(exc)
        line = error_line(draft.source, reason) if draft is not None else None
        return {"preview": None, "preview_error": reason, "preview_line": line}
    return {"preview": found, "preview_error": "", "preview_line": None}


def router() -> APIRouter:
    """The template pages."""
    pages = APIRouter(prefix="/app/templates", include_in_schema=False)

    @pages.get("", response_class=HTMLResponse)
    def templates(
        request: Request, viewer: ViewerDep, services: ServicesDep, after: str | None = None
    ) -> HTMLResponse:
        page = services.templates.list(viewer.principal, after, PAGE)
        next_url = f"/app/templates?after={page.next_cursor}" if page.next_cursor else None
        return render(
            request,
            viewer,
            "mail/list.html",
            title=N_("Templates"),
            templates=page.items,
            next_url=next_url,
            first_url="/app/templates" if after else None,
            can_write=viewer.can(Capability.TEMPLATES_WRITE),
        )

    @pages.get("/new", response_class=HTMLResponse)
    def new(request: Request, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
        viewer.principal.require(Capability.TEMPLATES_WRITE)
        draft = Draft(source=STARTER)
        shown = _preview(services, viewer.principal, "", draft=draft)
        return _editor(request, viewer, services, draft, shown)

    @pages.post("", response_model=None)
    def create(
        request: Request,
        *,
        viewer: ViewerDep,
        services: ServicesDep,
        name: Text = "",
        subject: Text = "",
        preheader: Text = "",
        source_format: Annotated[str, Form(max_length=10)] = "mjml",
        source: Source = "",
        contact: Address = "",
    ) -> HTMLResponse | RedirectResponse:
        draft = _draft(name, subject, preheader, source_format, source, contact=contact)
        content = draft.content()
        try:
            template, _version = services.templates.create(
                viewer.principal,
                draft.name,
                content.subject,
                content.html,
                mjml=content.mjml,
                preheader=content.preheader,
            )
        except InvalidInputError as exc:
            return _refused(request, viewer, services, draft, exc)
        return RedirectResponse(f"/app/templates/{template.id}?saved=true", status_code=303)

    @pages.post("/preview", response_class=HTMLResponse)
    def preview(
        request: Request,
        *,
        viewer: ViewerDep,
        services: ServicesDep,
        subject: Text = "",
        preheader: Text = "",
        source_format: Annotated[str, Form(max_length=10)] = "mjml",
        source: Source = "",
        contact: Address = "",
    ) -> HTMLResponse:
        # Always 200: the fragment shows the preview or why there is none.
        draft = _draft("", subject, preheader, source_format, source, contact=contact)
        shown = _preview(services, viewer.principal, draft.contact, draft=draft)
        return render(request, viewer, "mail/_frames.html", **shown)

    @pages.get("/{template_id}", response_class=HTMLResponse)
    def edit(
        request: Request,
        *,
        template_id: str,
        viewer: ViewerDep,
        services: ServicesDep,
        version: int | None = None,
        contact: str = "",
        saved: bool = False,
        sent: str = "",
    ) -> HTMLResponse:
        template, found = services.templates.get(viewer.principal, template_id, version)
        draft = Draft(
            name=template.name,
            subject=found.subject,
            preheader=found.preheader,
            source_format=found.source_format.value,
            source=found.source if found.source is not None else found.html,
            contact=contact.strip()[:320],
        )
        shown = _preview(
            services,
            viewer.principal,
            draft.contact,
            template_id=template.id,
            version=found.version,
        )
        return _editor(
            request,
            viewer,
            services,
            draft,
            shown,
            template_id=template.id,
            version=found.version,
            current=template.current_version,
            saved=saved,
            sent=sent[:320],
        )

    @pages.post("/{template_id}", response_model=None)
    def add_version(
        request: Request,
        *,
        template_id: str,
        viewer: ViewerDep,
        services: ServicesDep,
        subject: Text = "",
        preheader: Text = "",
        source_format: Annotated[str, Form(max_length=10)] = "mjml",
        source: Source = "",
        contact: Address = "",
    ) -> HTMLResponse | RedirectResponse:
        template, _current = services.templates.get(viewer.principal, template_id)
        draft = _draft(template.name, subject, preheader, source_format, source, contact=contact)
        try:
            services.templates.add_version(viewer.principal, template_id, draft.content())
        except InvalidInputError as exc:
            return _refused(
                request,
                viewer,
                services,
                draft,
                exc,
                template_id=template.id,
                current=template.current_version,
            )
        return RedirectResponse(f"/app/templates/{template_id}?saved=true", status_code=303)

    _test_send(pages)
    return pages


def _test_send(pages: APIRouter) -> None:
    """The test send of a template version, to one address."""

    @pages.post("/{template_id}/test-send", response_model=None)
    def test_send(
        request: Request,
        *,
        template_id: str,
        viewer: ViewerDep,
        services: ServicesDep,
        to: Address = "",
        from_email: Address = "",
        from_name: Annotated[str, Form(max_length=200)] = "",
        version: Annotated[int | None, Form(ge=1)] = None,
        send_contact: Address = "",
    ) -> HTMLResponse | RedirectResponse:
        try:
            contact_id = (
                _contact_id(services, viewer.principal, send_contact.strip())
                if send_contact.strip()
                else None
            )
            services.messages.test_send(
                viewer.principal,
                template_id,
                to=to.strip(),
                from_email=from_email.strip(),
                from_name=from_name.strip(),
                version=version,
                contact_id=contact_id,
                sample=None if contact_id else dict(SAMPLE),
            )
        except InvalidInputError as exc:
            template, found = services.templates.get(viewer.principal, template_id, version)
            draft = Draft(
                name=template.name,
                subject=found.subject,
                preheader=found.preheader,
                source_format=found.source_format.value,
                source=found.source if found.source is not None else found.html,
            )
            shown = _preview(
                services, viewer.principal, "", template_id=template.id, version=found.version
            )
            field = exc.field if exc.field in ("to", "from_email", "contact") else "send"
            return _editor(
                request,
                viewer,
                services,
                draft,
                shown,
                template_id=template.id,
                version=found.version,
                current=template.current_version,
                status=422,
                send_errors={field: exc.reason},
                send_input={
                    "to": to,
                    "from_email": from_email,
                    "from_name": from_name,
                    "contact": send_contact,
                },
            )
        query = urlencode(
            {"sent": to.strip(), "contact": send_contact.strip()}
            | ({"version": version} if version else {})
        )
        return RedirectResponse(f"/app/templates/{template_id}?{query}", status_code=303)


def _refused(
    request: Request,
    viewer: Viewer,
    services: Services,
    draft: Draft,
    exc: InvalidInputError,
    *,
    template_id: str = "",
    current: int = 0,
) -> HTMLResponse:
    """The editor again (422), the author's text kept, the error next to its field."""
    field = _FIELDS.get(exc.field, "source")
    shown = {
        "preview": None,
        "preview_error": exc.reason if field == "source" else "",
        "preview_line": error_line(draft.source, exc.reason) if field == "source" else None,
    }
    return _editor(
        request,
        viewer,
        services,
        draft,
        shown,
        template_id=template_id,
        version=current or None,
        current=current,
        status=422,
        errors={field: exc.reason},
    )


def _editor(
    request: Request,
    viewer: Viewer,
    services: Services,
    draft: Draft,
    shown: dict[str, Any],
    *,
    template_id: str = "",
    version: int | None = None,
    current: int = 0,
    status: int = 200,
    saved: bool = False,
    sent: str = "",
    errors: dict[str, str] | None = None,
    send_errors: dict[str, str] | None = None,
    send_input: dict[str, str] | None = None,
) -> HTMLResponse:
    checklist = None
    versions = []
    if template_id and version:
        checklist = services.content_checks.template_checklist(
            viewer.principal, template_id, version
        )
        versions = services.templates.versions(viewer.principal, template_id, VERSIONS)
    return render(
        request,
        viewer,
        "mail/edit.html",
        status=status,
        title=N_("Template") if template_id else N_("New template"),
        draft=draft,
        template_id=template_id,
        version=version,
        current_version=current,
        saved=saved,
        sent=sent,
        errors=errors or {},
        send_errors=send_errors or {},
        send_input=send_input
        or {"to": "", "from_email": "", "from_name": "", "contact": draft.contact},
        checklist=checklist,
        versions=versions,
        checks=CHECKS,
        can_write=viewer.can(Capability.TEMPLATES_WRITE),
        can_send=viewer.can(Capability.CAMPAIGNS_SEND),
        **shown,
    )
