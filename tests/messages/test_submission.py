"""Transactional submission: checks, composition, the priority lane, the message record."""

from __future__ import annotations

import base64
import email
import email.policy

import pytest
from sqlalchemy import select

from courriel.audience.models import Suppression, SuppressionReason
from courriel.content.mime import Attachment
from courriel.core.addresses import tenant_address_hash
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError
from courriel.delivery.models import SpoolMessage
from courriel.delivery.transfer import stored_message
from courriel.messages.models import MessageStatus
from courriel.messages.service import MessageRefusedError, OutgoingMessage, Party
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.messages.support import DOMAIN, dkim_domain, dkim_verified
from tests.support.delivery import Mailer, ShiftableClock, deliver_all
from tests.support.tenants import TenantAccess


def _message(**more: object) -> OutgoingMessage:
    fields: dict[str, object] = {
        "sender": Party(f"orders@{DOMAIN}", "Boutique"),
        "to": [Party("ann@gmail.test", "Ann")],
        "subject": "Order {{ var.order }} confirmed",
        "text": "Hello {{ var.name }}, order {{ var.order }} is on its way.",
        "html": "<p>Hello {{ var.name }}, order <b>{{ order }}</b> is on its way.</p>",
        "variables": {"name": "Ann", "order": "A-42"},
        "custom_id": "order-42",
        "event_payload": '{"cart": 42}',
    }
    fields.update(more)
    return OutgoingMessage(**fields)  # type: ignore[arg-type]


def test_a_message_is_rendered_signed_delivered_and_recorded(
    services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    published = dkim_domain(services, tenant_a)
    pdf = Attachment("invoice 42.pdf", "application/pdf", b"%PDF-1.4 fake\n" * 50)
    submitted = services.messages.submit(tenant_a.operator, _message(attachments=[pdf]))
    (result,) = submitted.recipients
    assert result.status is MessageStatus.QUEUED
    assert result.number > 0
    deliver_all(services)
    (received,) = sandbox.store.inbox("ann@gmail.test")
    parsed = received.as_email()
    assert parsed["Subject"] == "Order A-42 confirmed"
    assert "Hello Ann, order A-42" in received.text
    # Transactional: no unsubscribe header, no tracking pixel or rewritten link.
    assert parsed["List-Unsubscribe"] is None
    assert "/t/o/" not in received.data.decode("ascii", "replace")
    (attached,) = list(parsed.iter_attachments())
    assert attached.get_filename() == "invoice 42.pdf"
    assert attached.get_content() == pdf.content
    assert dkim_verified(received.data, published)
    history = services.messages.get(tenant_a.operator, result.message_id)
    assert history.record.custom_id == "order-42"
    assert history.record.event_payload == '{"cart": 42}'
    assert [e.type.value for e in history.events] == ["queued", "delivered"]
    assert (
        services.messages.get(tenant_a.operator, str(result.number)).record.id == result.message_id
    )
    assert services.messages.get(tenant_a.operator, result.uuid).record.id == result.message_id


def test_transactional_messages_are_in_the_priority_lane(
    services: Services, tenant_a: TenantAccess
) -> None:
    submitted = services.messages.submit(tenant_a.operator, _message())
    with services.storage.spool() as session:
        (row,) = session.scalars(select(SpoolMessage))
    assert row.priority == 3
    assert row.message_id == submitted.recipients[0].message_id


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("security@gmail.com", "free webmail"),
        ("orders@unverified.example", "not a sender domain of this account"),
    ],
)
def test_the_from_domain_must_be_a_verified_sender_domain(
    services: Services, tenant_a: TenantAccess, sender: str, reason: str
) -> None:
    with pytest.raises(MessageRefusedError) as refused:
        services.messages.submit(tenant_a.operator, _message(sender=Party(sender, "Google")))
    (problem,) = refused.value.problems
    assert problem.code == "send-0008"
    assert problem.status == 403
    assert reason in problem.message
    assert services.spool.pending_count() == 0


@pytest.mark.parametrize(
    ("reason", "stopped"),
    [("hard-bounce", True), ("complaint", True), ("manual", True), ("unsubscribe", False)],
)
def test_suppressions_stop_it_but_a_marketing_unsubscribe_does_not(
    services: Services, tenant_a: TenantAccess, reason: str, stopped: bool
) -> None:

    digest = tenant_address_hash(services.secret_key, tenant_a.tenant.id, "ann@gmail.test")
    with transaction(services.storage.tenant(tenant_a.tenant.id)) as session:
        session.add(
            Suppression(
                address_hash=digest,
                reason=SuppressionReason(reason),
                created_at=services.clock.now(),
            )
        )
    (result,) = services.messages.submit(tenant_a.operator, _message()).recipients
    assert (result.status is MessageStatus.BLOCKED) is stopped
    assert services.spool.pending_count() == (0 if stopped else 1)


def test_sandbox_mode_checks_everything_and_sends_nothing(
    services: Services, tenant_a: TenantAccess
) -> None:
    submitted = services.messages.submit(tenant_a.operator, _message(), sandbox=True)
    assert [r.number for r in submitted.recipients] == [0]
    assert services.spool.pending_count() == 0
    with pytest.raises(MessageRefusedError):
        services.messages.submit(
            tenant_a.operator, _message(to=[Party("not an address")]), sandbox=True
        )


def test_invalid_input_is_refused_with_mailjet_codes(
    services: Services, tenant_a: TenantAccess
) -> None:
    with pytest.raises(MessageRefusedError) as refused:
        services.messages.submit(
            tenant_a.operator,
            _message(
                to=[Party("ann@gmail.test"), Party("nope")],
                html=None,
                text=None,
                headers={"Bcc": "spy@evil.test"},
                deduplicate=True,
            ),
        )
    codes = {p.code: p.related for p in refused.value.problems}
    assert codes["mj-0013"] == ("To[1].Email",)
    assert {"send-0003", "send-0012", "send-0011"} <= set(codes)


def test_deduplicate_campaign_sends_once_per_recipient(
    services: Services, tenant_a: TenantAccess
) -> None:
    once = _message(campaign="welcome", deduplicate=True)
    first = services.messages.submit(tenant_a.operator, once).recipients[0]
    second = services.messages.submit(tenant_a.operator, once).recipients[0]
    assert first.status is MessageStatus.QUEUED
    assert second.status is MessageStatus.DEDUPLICATED
    assert services.spool.pending_count() == 1


def test_another_tenant_cannot_read_a_message(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    (result,) = services.messages.submit(tenant_a.operator, _message()).recipients
    for reference in (result.message_id, result.uuid):
        with pytest.raises(NotFoundError):
            services.messages.get(tenant_b.operator, reference)


def test_inline_attachment_has_a_content_id(services: Services, tenant_a: TenantAccess) -> None:
    logo = Attachment("logo.png", "image/png", base64.b64decode("iVBORw0KGgo="), "logo1")
    services.messages.submit(
        tenant_a.operator, _message(html='<img src="cid:logo1">', attachments=[logo])
    )

    with services.storage.spool() as session:
        row = session.execute(select(SpoolMessage.body_format, SpoolMessage.body)).one()
    parsed = email.message_from_bytes(stored_message(*row), policy=email.policy.default)
    (inline,) = [p for p in parsed.walk() if p.get("Content-ID")]
    assert inline["Content-ID"] == "<logo1>"
    assert inline.get_content_disposition() == "inline"


def test_a_transactional_message_is_delivered_before_a_waiting_campaign(
    services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:

    campaign = Mailer(services, tenant_a.tenant.id, ShiftableClock())
    campaign.send([f"c{i}@gmail.test" for i in range(300)])
    services.messages.submit(tenant_a.operator, _message())
    deliver_all(services)
    order = [m.rcpt for m in sorted(sandbox.store.recent(1000), key=lambda m: m.id)]
    assert len(order) == 301
    # Queued last, delivered first: the priority lane is claimed before the rest.
    assert order[0] == "ann@gmail.test"
