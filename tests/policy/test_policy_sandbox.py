"""The sending policy crossed by real sends on the sandbox internet: a list with 10 %
unknown users bounces over 8 % → limited; one with 35 % policy blocks → limited.
The explanation names the figures, the campaign, its list and the import behind it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from courriel.audience.models import ContactImport, ImportStatus
from courriel.config import Settings
from courriel.core.db import transaction
from courriel.delivery.models import SpoolMessage
from courriel.events.models import Event, EventType
from courriel.policy.models import PolicyState
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import deliver_all, fast_profiles
from tests.support.seeds.campaigns import make_campaign, seed_list, spooled
from tests.support.tenants import TenantAccess

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # These scenarios are about the policy's thresholds, not the lanes' pace:
    # the providers' per-minute limits would make 200 messages take 20 s.
    settings.throttle_profiles = fast_profiles()
    return settings


def _import_into(services: Services, tenant: TenantAccess, list_id: str) -> None:
    with transaction(services.storage.tenant(tenant.tenant.id)) as session:
        session.add(
            ContactImport(
                id="imp_trade_fair",
                list_id=list_id,
                file_name="trade-fair-2026.csv",
                file_sha256="0" * 64,
                legal_basis="consent",
                source="trade fair",
                status=ImportStatus.DONE,
                imported=200,
                principal="operator",
                created_at=dt.datetime.now(dt.UTC),
            )
        )


def test_ten_percent_unknown_users_cross_the_bounce_threshold_and_limit_the_tenant(
    services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    emails = [
        f"unknown-{i}@example.test" if i % 10 == 0 else f"reader{i}@example.test"
        for i in range(200)
    ]
    list_id = seed_list(services, tenant_a, emails, name="Trade fair leads")
    _import_into(services, tenant_a, list_id)
    campaign_id = make_campaign(services, tenant_a, [list_id])
    services.policy.set_notify_email(tenant_a.operator, "owner@acme.test")
    services.campaign_control.send(tenant_a.operator, campaign_id)
    deliver_all(services)

    state = services.policy.evaluate(tenant_a.tenant.id)

    assert state is PolicyState.LIMITED
    status = services.policy.status(tenant_a.operator)
    assert status.hourly_cap == services.settings.policy_limited_hourly_cap
    assert status.limited_until is not None
    explained = status.explanation
    assert explained["figures"]["sent"] == 200
    assert explained["figures"]["bounced"] == 20
    bounce = next(f for f in explained["findings"] if f["rule"] == "bounce_rate")
    assert (bounce["value"], bounce["limit"]) == (0.1, 0.08)
    assert "20 of 200 sent messages bounced (10.00%)" in bounce["text"]
    assert [c["id"] for c in explained["campaigns"]] == [campaign_id]
    assert explained["campaigns"][0]["counts"] == {"bounced": 20}
    assert explained["lists"] == [{"id": list_id, "name": "Trade fair leads"}]
    assert [(i["file_name"], i["source"]) for i in explained["imports"]] == [
        ("trade-fair-2026.csv", "trade fair")
    ]
    (change,) = services.policy.history(tenant_a.operator)
    assert (change.from_state, change.to_state, change.actor) == ("ok", "limited", "evaluation")
    assert "bounced" in change.reason
    # Announced: an event (for webhooks) and an e-mail to the tenant.
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        announced = session.scalars(
            select(Event).where(Event.type == EventType.POLICY_CHANGED)
        ).all()
    assert [e.detail["to"] for e in announced] == ["limited"]
    with services.storage.spool() as session:
        notice = session.scalar(
            select(SpoolMessage).where(SpoolMessage.message_id == f"msg_{change.id}")
        )
    assert notice is not None
    assert notice.rcpt_to == "owner@acme.test"
    # Evaluating again changes nothing: the limit holds for its seven days.
    assert services.policy.evaluate(tenant_a.tenant.id) is PolicyState.LIMITED
    assert len(services.policy.history(tenant_a.operator)) == 1


def test_a_limited_tenant_sends_at_most_its_hourly_cap(
    services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    emails = [
        f"unknown-{i}@example.test" if i % 10 == 0 else f"reader{i}@example.test"
        for i in range(200)
    ]
    campaign_id = make_campaign(services, tenant_a, [seed_list(services, tenant_a, emails)])
    services.campaign_control.send(tenant_a.operator, campaign_id)
    deliver_all(services)
    assert services.policy.evaluate(tenant_a.tenant.id) is PolicyState.LIMITED

    more = [f"next{i}@example.test" for i in range(600)]
    second = make_campaign(services, tenant_a, [seed_list(services, tenant_a, more, name="B")])
    services.campaign_control.send(tenant_a.operator, second)
    services.scheduler().drain()

    # 200 went out this hour already: the cap of 500 leaves room for 300.
    assert len(spooled(services, second)) == 300
    progress = services.campaign_control.progress(tenant_a.operator, second)
    assert progress.status == "sending"


def test_a_third_of_messages_blocked_crosses_the_block_threshold(
    services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    emails = [
        f"block-{i}@example.test" if i % 20 < 7 else f"reader{i}@example.test" for i in range(200)
    ]
    campaign_id = make_campaign(services, tenant_a, [seed_list(services, tenant_a, emails)])
    services.campaign_control.send(tenant_a.operator, campaign_id)
    deliver_all(services)

    assert services.policy.evaluate(tenant_a.tenant.id) is PolicyState.LIMITED
    explained = services.policy.status(tenant_a.operator).explanation
    block = next(f for f in explained["findings"] if f["rule"] == "block_rate")
    assert (block["value"], block["limit"]) == (0.35, 0.3)
    assert block["text"] == ("70 of 200 sent messages were blocked (35.00%); the limit is 30.00%")
    assert explained["campaigns"][0]["counts"] == {"blocked": 70}
