"""Every rule of the sending policy, its states, suspension and the operator's lift."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from courriel.campaigns.models import MailClass
from courriel.campaigns.pacing import set_job_time
from courriel.config import Settings
from courriel.core.db import transaction
from courriel.core.errors import ConflictError, InvalidInputError
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.policy.models import PolicyState
from courriel.policy.thresholds import Figures, measure, verdict
from courriel.services import Services
from tests.support.seeds.campaigns import make_campaign, seed_list, spooled
from tests.support.tenants import TenantAccess

RULES = Settings()


def _figures(**values: int) -> Figures:
    base = {
        "sent": 1000,
        "bounced": 0,
        "blocked": 0,
        "unsubscribed": 0,
        "clicks": 0,
        "spam_trap_hits": 0,
        "sent_day": 1000,
        "complaints_day": 0,
    }
    return Figures(**{**base, **values})


@pytest.mark.parametrize(
    ("values", "state", "rule"),
    [
        ({}, PolicyState.OK, None),
        ({"bounced": 70}, PolicyState.WARNING, "bounce_rate"),
        ({"bounced": 80}, PolicyState.WARNING, "bounce_rate"),  # 8 % is allowed
        ({"bounced": 81}, PolicyState.LIMITED, "bounce_rate"),
        ({"bounced": 160}, PolicyState.SUSPENDED, "bounce_rate"),
        ({"unsubscribed": 15, "clicks": 100}, PolicyState.LIMITED, "unsubscribe_rate"),
        ({"unsubscribed": 12, "clicks": 100}, PolicyState.WARNING, "unsubscribe_rate"),
        # More unsubscribes than clicks: the limit drops to 1 %.
        ({"unsubscribed": 12, "clicks": 3}, PolicyState.LIMITED, "unsubscribe_rate"),
        ({"blocked": 301}, PolicyState.LIMITED, "block_rate"),
        ({"sent_day": 4000, "complaints_day": 3}, PolicyState.WARNING, "complaint_rate"),
        ({"sent_day": 4000, "complaints_day": 4}, PolicyState.LIMITED, "complaint_rate"),
        # Under 1,000 a day only the absolute cap of 50 applies.
        ({"sent_day": 900, "complaints_day": 40}, PolicyState.WARNING, "complaints_per_day"),
        ({"sent_day": 900, "complaints_day": 51}, PolicyState.LIMITED, "complaints_per_day"),
        ({"spam_trap_hits": 1}, PolicyState.WARNING, "spam_trap_hits"),
        ({"spam_trap_hits": 2}, PolicyState.SUSPENDED, "spam_trap_hits"),
        # Too little volume for rates to mean anything.
        ({"sent": 50, "bounced": 20}, PolicyState.OK, None),
    ],
)
def test_each_threshold(values: dict[str, int], state: PolicyState, rule: str | None) -> None:
    findings = measure(_figures(**values), RULES)
    assert verdict(findings, RULES) is state
    if rule is not None:
        worst = max(findings, key=lambda f: f.ratio)
        assert worst.rule == rule
        assert worst.text


def _record(services: Services, tenant: TenantAccess, kind: EventType, count: int) -> None:
    now = dt.datetime.now(dt.UTC)
    with transaction(services.storage.tenant(tenant.tenant.id)) as session:
        record_events(
            session,
            [NewEvent(type=kind, occurred_at=now, campaign_id="cmp_x") for _ in range(count)],
        )


def test_spam_trap_hits_suspend_sending_until_an_operator_lifts_it(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    list_id = seed_list(services, tenant_a, ["ada@example.test", "bob@example.test"])
    running = make_campaign(services, tenant_a, [list_id])
    services.campaigns.send(tenant_a.operator, running)
    _record(services, tenant_a, EventType.DELIVERED, 300)
    _record(services, tenant_a, EventType.SPAM_TRAP_HIT, 2)

    assert services.policy.evaluate(tenant_a.tenant.id) is PolicyState.SUSPENDED
    assert services.policy.evaluate(tenant_b.tenant.id) is PolicyState.OK

    # Sending stops: the running campaign spools nothing, new sends are refused,
    # transactional ones too.
    services.scheduler().drain()
    assert spooled(services, running) == []
    for mail_class in (MailClass.MARKETING, MailClass.TRANSACTIONAL):
        campaign = make_campaign(services, tenant_a, [list_id], mail_class=mail_class)
        with pytest.raises(ConflictError, match=r"suspended.*spam-trap"):
            services.campaign_control.send(tenant_a.operator, campaign)
    # Evaluation never lifts a suspension by itself.
    assert services.policy.evaluate(tenant_a.tenant.id) is PolicyState.SUSPENDED

    with pytest.raises(InvalidInputError, match="reason"):
        services.policy.lift(tenant_a.tenant.id, " ", actor="operator:alice")
    services.policy.lift(tenant_a.tenant.id, "trap addresses removed", actor="operator:alice")

    lifted = services.policy.history(tenant_a.operator)[0]
    assert (lifted.to_state, lifted.actor, lifted.reason) == (
        "ok",
        "operator:alice",
        "trap addresses removed",
    )
    # The old numbers are not judged again, and sending resumes.
    assert services.policy.evaluate(tenant_a.tenant.id) is PolicyState.OK
    # The parked job looks again within minutes; here, at once.
    set_job_time(services.storage, tenant_a.tenant.id, running, services.clock.now())
    services.scheduler().drain()
    assert sorted(spooled(services, running)) == ["ada@example.test", "bob@example.test"]
    with pytest.raises(ConflictError, match="nothing to lift"):
        services.policy.lift(tenant_a.tenant.id, "again", actor="operator:alice")


def test_evaluation_runs_only_for_tenants_with_new_events(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    _record(services, tenant_a, EventType.DELIVERED, 10)
    assert services.policy.evaluate_changed() == 1
    assert services.policy.evaluate_changed() == 0
    _record(services, tenant_b, EventType.DELIVERED, 1)
    assert services.policy.evaluate_changed() == 1


def test_policy_over_http(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    _record(services, tenant_a, EventType.DELIVERED, 300)
    _record(services, tenant_a, EventType.COMPLAINED, 51)
    services.policy.evaluate(tenant_a.tenant.id)

    mine = client.get("/v1/policy", headers=tenant_a.headers).json()
    assert mine["state"] == "limited"
    assert any(f["rule"] == "complaints_per_day" for f in mine["explanation"]["findings"])
    theirs = client.get("/v1/policy", headers=tenant_b.headers).json()
    assert theirs["state"] == "ok"
    assert client.get("/v1/policy/changes", headers=tenant_b.headers).json() == []
    changes = client.get("/v1/policy/changes", headers=tenant_a.headers).json()
    assert [c["to_state"] for c in changes] == ["limited"]
    bad = client.put("/v1/policy/notify", json={"email": "nope"}, headers=tenant_a.headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "email"
    ok = client.put("/v1/policy/notify", json={"email": "ops@acme.test"}, headers=tenant_a.headers)
    assert ok.status_code == 204
    assert client.get("/v1/policy", headers=tenant_a.headers).json()["notify_email"] == (
        "ops@acme.test"
    )
