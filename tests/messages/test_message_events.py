"""Events of transactional messages carry CustomID and EventPayload; an endpoint may
ask for Mailjet's event format, so an existing Mailjet consumer keeps working."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from courriel.core.clock import SystemClock
from courriel.core.errors import InvalidInputError
from courriel.events.webhooks.deliverer import WebhookDeliverer
from courriel.events.webhooks.endpoints import WebhookService
from courriel.messages.events import MessageEventStyles
from courriel.messages.service import OutgoingMessage, Party
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.messages.support import DOMAIN
from tests.support.delivery import deliver_all
from tests.support.tenants import TenantAccess
from tests.tracking.test_tracking_webhooks import LOOPBACK, Receiver


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    ours, theirs = Receiver(), Receiver()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_webhooks_carry_custom_id_and_payload_in_either_format(
    services: Services,
    tenant_a: TenantAccess,
    sandbox: Sandbox,
    receivers: tuple[Receiver, Receiver],
) -> None:
    ours, theirs = receivers
    clock = SystemClock()
    webhooks = WebhookService(services.storage, clock, LOOPBACK)
    webhooks.create(tenant_a.operator, ours.url, ["*"])
    webhooks.create(tenant_a.operator, theirs.url, ["*"], style="mailjet")
    (result,) = services.messages.submit(
        tenant_a.operator,
        OutgoingMessage(
            sender=Party(f"orders@{DOMAIN}"),
            to=[Party("ann@gmail.test")],
            subject="Receipt",
            text="Thanks",
            custom_id="order-42",
            event_payload='{"cart":42}',
            campaign="receipts",
        ),
    ).recipients
    deliver_all(services)
    deliverer = WebhookDeliverer(
        services.storage,
        services.settings,
        clock,
        allowed=LOOPBACK,
        styles=MessageEventStyles(services.storage),
    )
    deliverer.run_once()
    native = [json.loads(body) for _h, body in ours.requests]
    assert [b["type"] for b in native] == ["queued", "delivered"]
    assert {b["custom_id"] for b in native} == {"order-42"}
    assert {b["event_payload"] for b in native} == {'{"cart":42}'}
    # Mailjet has no "queued" event: its consumer gets "sent" only.
    (sent,) = [json.loads(body) for _h, body in theirs.requests]
    assert sent["event"] == "sent"
    assert sent["email"] == "ann@gmail.test"
    assert sent["MessageID"] == result.number
    assert sent["Message_GUID"] == result.uuid
    assert sent["CustomID"] == "order-42"
    assert sent["Payload"] == '{"cart":42}'
    assert sent["customcampaign"] == "receipts"
    assert isinstance(sent["time"], int)
    assert sent["smtp_reply"].startswith("250")


def test_an_unknown_format_is_refused(services: Services, tenant_a: TenantAccess) -> None:
    webhooks = WebhookService(services.storage, SystemClock(), LOOPBACK)
    with pytest.raises(InvalidInputError) as refused:
        webhooks.create(tenant_a.operator, "http://127.0.0.1:9/x", ["*"], style="sendgrid")
    assert refused.value.field == "format"
