"""HTTP routes of templates, previews, test sends and DKIM keys."""

from __future__ import annotations

from fastapi import APIRouter

from courriel.content.dkimkeys import DnsRecord
from courriel.content.models import Template, TemplateVersion
from courriel.content.schemas import (
    DkimRecordOut,
    PreviewIn,
    PreviewOut,
    TemplateContentIn,
    TemplateIn,
    TemplateOut,
    TemplateSummary,
    TestSendIn,
    TestSendOut,
)
from courriel.content.service import TemplateContent
from courriel.core.schemas import PageOut
from courriel.web.deps import DEFAULT_PAGE, CursorQuery, LimitQuery, PrincipalDep, ServicesDep

router = APIRouter(tags=["content"])


def _out(template: Template, version: TemplateVersion) -> TemplateOut:
    return TemplateOut(
        id=template.id,
        name=template.name,
        version=version.version,
        subject=version.subject,
        html=version.html,
        text=version.text,
        source_format=version.source_format.value,
        mjml=version.source,
        preheader=version.preheader,
        sender_name=version.sender_name,
        reply_to=version.reply_to,
        headers=version.headers,
        defaults=version.defaults,
        created_at=version.created_at,
    )


def _content(body: TemplateContentIn) -> TemplateContent:
    return TemplateContent(
        subject=body.subject,
        html=body.html,
        mjml=body.mjml,
        text=body.text,
        preheader=body.preheader,
        sender_name=body.sender_name,
        reply_to=body.reply_to,
        headers=body.headers,
        defaults=dict(body.defaults),
    )


def _record(record: DnsRecord) -> DkimRecordOut:
    return DkimRecordOut(
        selector=record.selector,
        algorithm=record.algorithm.value,
        status=record.status.value,
        name=record.name,
        value=record.value,
        created_at=record.created_at,
    )


@router.post("/templates", status_code=201)
def create_template(
    body: TemplateIn, services: ServicesDep, principal: PrincipalDep
) -> TemplateOut:
    """Create a template (version 1) from HTML or MJML."""
    content = _content(body)
    return _out(
        *services.templates.create(
            principal,
            body.name,
            content.subject,
            content.html,
            content.text,
            mjml=content.mjml,
            preheader=content.preheader,
            sender_name=content.sender_name,
            reply_to=content.reply_to,
            headers=content.headers,
            defaults=content.defaults,
        )
    )


@router.get("/templates")
def list_templates(
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
) -> PageOut[TemplateSummary]:
    """The tenant's templates."""
    page = services.templates.list(principal, cursor, limit)
    return PageOut[TemplateSummary].of(page)


@router.get("/templates/{template_id}")
def get_template(template_id: str, services: ServicesDep, principal: PrincipalDep) -> TemplateOut:
    """A template with its current version."""
    return _out(*services.templates.get(principal, template_id))


@router.post("/templates/{template_id}/versions", status_code=201)
def add_version(
    template_id: str, body: TemplateContentIn, services: ServicesDep, principal: PrincipalDep
) -> TemplateOut:
    """A new current version; campaigns keep the version they were created with."""
    return _out(*services.templates.add_version(principal, template_id, _content(body)))


@router.get("/templates/{template_id}/versions/{version}")
def get_version(
    template_id: str, version: int, services: ServicesDep, principal: PrincipalDep
) -> TemplateOut:
    """One frozen version of a template."""
    return _out(*services.templates.get(principal, template_id, version))


@router.post("/templates/{template_id}/preview")
def preview_template(
    template_id: str, body: PreviewIn, services: ServicesDep, principal: PrincipalDep
) -> PreviewOut:
    """Render for a contact or sample data; lists the variables that came out empty."""
    preview = services.templates.preview(
        principal, template_id, version=body.version, contact_id=body.contact_id, sample=body.sample
    )
    return PreviewOut(
        subject=preview.subject,
        preheader=preview.preheader,
        html=preview.html,
        text=preview.text,
        undefined=preview.undefined,
        missing_defaults=preview.missing_defaults,
    )


@router.post("/templates/{template_id}/test-send", status_code=202)
def test_send(
    template_id: str, body: TestSendIn, services: ServicesDep, principal: PrincipalDep
) -> TestSendOut:
    """Send one rendered message (untracked) through the checks and the spool like any other."""
    message_id = services.messages.test_send(
        principal,
        template_id,
        to=body.to,
        from_email=body.from_email,
        from_name=body.from_name,
        version=body.version,
        contact_id=body.contact_id,
        sample=body.sample,
    )
    return TestSendOut(message_id=message_id)


@router.get("/dkim/{domain}")
def dkim_records(
    domain: str, services: ServicesDep, principal: PrincipalDep
) -> list[DkimRecordOut]:
    """The DKIM TXT records to publish for a sender domain."""
    return [_record(r) for r in services.dkim_keys.records(principal, domain)]


@router.post("/dkim/{domain}/rotate", status_code=201)
def rotate_dkim(domain: str, services: ServicesDep, principal: PrincipalDep) -> list[DkimRecordOut]:
    """New RSA-2048 and Ed25519 keys under new selectors; the previous pair is retired."""
    return [_record(r) for r in services.dkim_keys.rotate(principal, domain)]
