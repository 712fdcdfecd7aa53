"""What the relay records: a transactional message per recipient with Mailjet's
CustomID / EventPayload / campaign, its first event, the priority lane; suppressed
recipients held back (a marketing unsubscribe does not stop it); X-MJ-TemplateID
with X-MJ-Vars sends the stored template; the sending policy refuses it in the
Send API's words."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from courriel.audience.models import Contact, Suppression, SuppressionReason
from courriel.core.addresses import tenant_address_hash
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError
from courriel.core.ids import new_id
from courriel.core.principal import Principal
from courriel.delivery.models import SpoolMessage
from courriel.messages.models import MessageStatus, TransactionalMessage
from courriel.messages.service import MessageRefusedError, OutgoingMessage, Party
from courriel.policy.models import PolicyState, TenantPolicy
from courriel.relay.submission import RelayServer
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.relay.conftest import Sender, dkim_results, login, replies, swaks
from tests.support.delivery import deliver_all


def _queued_ids(transcript: str) -> list[str]:
    return [
        line.rsplit(" ", 1)[-1]
        for line in transcript.splitlines()
        if "250 2.0.0 OK queued as" in line
    ]


def test_custom_id_and_event_payload_are_recorded_and_the_message_takes_the_priority_lane(
    services: Services, relay: RelayServer, shop_a: Sender
) -> None:
    assert relay.starttls_address is not None
    transcript = swaks(
        relay.starttls_address[1],
        *login(shop_a),
        "--from",
        "orders@shop-a.test",
        "--to",
        "alice@gmail.test",
        "--header",
        "Subject: Order 7",
        "--header",
        "X-MJ-CustomID: order-7",
        "--header",
        'X-MJ-EventPayload: {"cart": 7}',
        "--header",
        "X-Mailjet-Campaign: receipts",
    )
    [message_id] = _queued_ids(transcript)
    history = services.messages.get(shop_a.operator, message_id)
    assert history.record.custom_id == "order-7"
    assert history.record.event_payload == '{"cart": 7}'
    assert history.record.campaign == "receipts"
    assert history.record.subject == "Order 7"
    assert history.record.status is MessageStatus.QUEUED
    assert [e.type.value for e in history.events] == ["queued"]
    assert history.events[0].detail["custom_id"] == "order-7"
    with services.storage.spool() as session:
        row = session.scalars(
            select(SpoolMessage).where(SpoolMessage.message_id == message_id)
        ).one()
    assert row.priority > 0
    # Another tenant cannot see it.
    with pytest.raises(NotFoundError, match="no message"):
        services.messages.get(_other_operator(services), message_id)


def _other_operator(services: Services) -> Principal:
    return Principal.operator(services.tenants.create("Other").id)


@pytest.mark.parametrize(("reason", "stopped"), [("hard-bounce", True), ("unsubscribe", False)])
def test_suppressed_recipients_are_held_back_but_not_for_a_marketing_unsubscribe(
    services: Services, relay: RelayServer, shop_a: Sender, reason: str, stopped: bool
) -> None:
    digest = tenant_address_hash(services.secret_key, shop_a.tenant_id, "gone@gmail.test")
    with transaction(services.storage.tenant(shop_a.tenant_id)) as session:
        session.add(
            Suppression(
                address_hash=digest,
                reason=SuppressionReason(reason),
                created_at=services.clock.now(),
            )
        )
    assert relay.starttls_address is not None
    transcript = swaks(
        relay.starttls_address[1],
        *login(shop_a),
        "--from",
        "orders@shop-a.test",
        "--to",
        "gone@gmail.test",
    )
    [message_id] = _queued_ids(transcript)
    record = services.messages.get(shop_a.operator, message_id).record
    assert (record.status is MessageStatus.BLOCKED) is stopped
    assert services.spool.backlog(services.clock.now()) == (0 if stopped else 1)


def test_a_template_id_header_sends_the_stored_template_with_its_variables(
    services: Services, sandbox: Sandbox, relay: RelayServer, shop_a: Sender
) -> None:
    template, _version = services.templates.create(
        shop_a.operator,
        "receipt",
        "Receipt {{ var.order }}",
        html="<p>Hello {{ var.name }}, order {{ var.order }} is paid.</p>",
        text="Hello {{ var.name }}, order {{ var.order }} is paid.",
    )
    assert relay.starttls_address is not None
    transcript = swaks(
        relay.starttls_address[1],
        *login(shop_a),
        "--from",
        "orders@shop-a.test",
        "--to",
        "dan@gmail.test",
        "--header",
        f"X-MJ-TemplateID: {template.id}",
        "--header",
        'X-MJ-Vars: {"name": "Dan", "order": "B-9"}',
        "--header",
        "X-MJ-CustomID: receipt-9",
        # A Subject given overrides the template's, as in the Send API.
        "--header",
        "Subject: Your receipt",
    )
    [message_id] = _queued_ids(transcript)
    assert services.messages.get(shop_a.operator, message_id).record.custom_id == "receipt-9"
    deliver_all(services)
    [received] = sandbox.store.inbox("dan@gmail.test")
    assert received.subject == "Your receipt"
    assert "Hello Dan, order B-9 is paid." in received.text
    assert b"x-mj-" not in received.data.lower()
    assert dkim_results(services, shop_a, received.data) == [True, True]


def _policy(services: Services, tenant_id: str, state: PolicyState, cap: int | None) -> None:
    now = services.clock.now()
    finding = {"text": "complaints 0.9% (at most 0.3%)", "ratio": 3.0}
    with transaction(services.storage.control) as session:
        session.add(
            TenantPolicy(
                tenant_id=tenant_id,
                state=state,
                since=now,
                hourly_cap=cap,
                limited_until=now + dt.timedelta(hours=1) if cap is not None else None,
                explanation={"findings": [finding]},
            )
        )


def _order(shop: Sender, to: str) -> OutgoingMessage:
    return OutgoingMessage(
        sender=Party(f"orders@{shop.domain}"), to=[Party(to)], subject="Order", text="Thanks."
    )


@pytest.mark.parametrize(
    ("state", "cap", "status", "reply"),
    [
        (PolicyState.SUSPENDED, None, 403, "550 5.7.1 sending is suspended by the sending policy"),
        (PolicyState.LIMITED, 1, 429, "451 4.7.1 sending is limited by the sending policy to 1"),
    ],
)
def test_the_sending_policy_refuses_relayed_mail_as_it_refuses_the_send_api(
    services: Services,
    relay: RelayServer,
    shop_a: Sender,
    state: PolicyState,
    cap: int | None,
    status: int,
    reply: str,
) -> None:
    _policy(services, shop_a.tenant_id, state, cap)
    if cap is not None:
        # The hour's one message, over the API: the cap counts both ways in.
        services.messages.submit(shop_a.operator, _order(shop_a, "a@gmail.test"))
    with pytest.raises(MessageRefusedError) as refused:
        services.messages.submit(shop_a.operator, _order(shop_a, "b@gmail.test"))
    (problem,) = refused.value.problems
    assert (problem.code, problem.status) == ("mj-0001", status)
    assert relay.starttls_address is not None
    transcript = swaks(
        relay.starttls_address[1],
        *login(shop_a),
        "--from",
        f"orders@{shop_a.domain}",
        "--to",
        "c@gmail.test",
    )
    [answer] = replies(transcript, reply[:9])
    assert answer.startswith(reply)
    # The same words both ways, with the findings behind a suspension.
    assert answer.endswith(problem.message)
    if state is PolicyState.SUSPENDED:
        assert "complaints 0.9%" in problem.message
    assert services.spool.pending_count() == (1 if cap is not None else 0)


def test_the_api_and_the_relay_hold_back_the_same_recipients(
    services: Services, relay: RelayServer, shop_a: Sender
) -> None:
    now = services.clock.now()
    tenant_id = shop_a.tenant_id
    with transaction(services.storage.tenant(tenant_id)) as session:
        suppressed = {"gone@gmail.test": "hard-bounce", "left@gmail.test": "unsubscribe"}
        for address, reason in suppressed.items():
            session.add(
                Suppression(
                    address_hash=tenant_address_hash(services.secret_key, tenant_id, address),
                    reason=SuppressionReason(reason),
                    created_at=now,
                )
            )
        session.add(
            Contact(
                id=new_id("con"),
                email="quiet@gmail.test",
                email_domain="gmail.test",
                restricted=True,
                created_at=now,
                updated_at=now,
            )
        )
    to = ["gone@gmail.test", "left@gmail.test", "quiet@gmail.test", "new@gmail.test"]
    api = services.messages.submit(
        shop_a.operator,
        OutgoingMessage(
            sender=Party(f"orders@{shop_a.domain}"),
            to=[Party(a) for a in to],
            subject="Order",
            text="Thanks.",
        ),
    )
    assert relay.starttls_address is not None
    transcript = swaks(
        relay.starttls_address[1],
        *login(shop_a),
        "--from",
        f"orders@{shop_a.domain}",
        "--to",
        ",".join(to),
    )
    assert len(_queued_ids(transcript)) == 1
    over_the_api = {r.message_id for r in api.recipients}
    with services.storage.tenant(tenant_id)() as session:
        relayed = {
            r.recipient: (r.status, r.reason)
            for r in session.scalars(select(TransactionalMessage))
            if r.id not in over_the_api
        }
    held = {r.email: (r.status, r.reason) for r in api.recipients}
    assert relayed == held
    assert held == {
        "gone@gmail.test": (MessageStatus.BLOCKED, "suppressed (hard-bounce)"),
        "left@gmail.test": (MessageStatus.QUEUED, ""),
        "quiet@gmail.test": (
            MessageStatus.BLOCKED,
            "processing of this contact is restricted (GDPR Art. 18)",
        ),
        "new@gmail.test": (MessageStatus.QUEUED, ""),
    }
