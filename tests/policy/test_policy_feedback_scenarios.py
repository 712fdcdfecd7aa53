"""The sending policy crossed by what recipients and providers do after delivery, on
the sandbox internet: spam traps reported by the trap network, spam complaints sent
back as ARF reports, people pressing one-click unsubscribe in their mail client.

Each scenario sends a real campaign through the delivery engine to sandbox
mailboxes whose addresses choose their behaviour (`trap-`, `complain-`,
`unsubscribe-`, `click-`; see `courriel.sandbox.recipients`). Reports come back
by SMTP to the return-path server, unsubscribes and clicks by HTTP to the real
tracking endpoints. Lists are small, so rules that need volume are tuned down
(thresholds are settings); the explanation must name the figure, the observed
rate and the limit.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from courriel.audience.models import Subscription, SubscriptionStatus, Suppression
from courriel.config import Settings
from courriel.policy.models import PolicyState
from courriel.policy.service import PolicyService
from courriel.services import Services
from tests.support.delivery import deliver_all, fast_profiles
from tests.support.sandbox import Internet
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import TenantAccess

# A campaign with a tracked link, so simulated recipients have something to click.
HTML = (
    "<p>Hello {{ contact.email }}, our spring collection is here.</p>"
    '<p><a href="https://shop.example.test/spring">See the collection</a></p>'
)
DEADLINE_S = 60


@pytest.fixture
def settings(settings: Settings, http_port: int) -> Settings:
    # Messages carry links to where the tracking endpoints (`live_http`) really listen.
    # Lanes without rate limits: these scenarios are about the policy, not pacing.
    return settings.model_copy(
        update={
            "public_url": f"http://127.0.0.1:{http_port}",
            "throttle_profiles": fast_profiles(),
        }
    )


def _send_and_settle(
    services: Services, tenant: TenantAccess, internet: Internet, emails: list[str]
) -> str:
    """Send a campaign to `emails`, deliver it all, and wait for every reaction."""
    list_id = seed_list(services, tenant, emails, name="Spring leads")
    campaign_id = make_campaign(services, tenant, [list_id], html=HTML)
    services.campaign_control.send(tenant.operator, campaign_id)
    deliver_all(services, deadline_s=DEADLINE_S)
    internet.settle()
    # Opens and clicks are written in batches (within a second): write the
    # buffered ones now, as the flusher would, before the policy counts them.
    services.tracker.flush()
    return campaign_id


def _policy(services: Services, **thresholds: object) -> PolicyService:
    tuned = services.settings.model_copy(update=thresholds)
    return PolicyService(services.storage, tuned, services.clock, services.mailer)


def _finding(policy: PolicyService, tenant: TenantAccess, rule: str) -> dict[str, Any]:
    explained = policy.status(tenant.operator).explanation
    found: dict[str, Any] = next(f for f in explained["findings"] if f["rule"] == rule)
    return found


def _readers(count: int, *special: str) -> list[str]:
    return [*special, *(f"reader{i}@example.test" for i in range(count - len(special)))]


@pytest.mark.parametrize(
    ("traps", "state", "ratio"),
    [(1, PolicyState.WARNING, 1.0), (2, PolicyState.SUSPENDED, 2.0)],
)
def test_spam_trap_hits_reported_by_the_trap_network(
    services: Services,
    tenant_a: TenantAccess,
    internet: Internet,
    traps: int,
    state: PolicyState,
    ratio: float,
) -> None:
    trap_addresses = [f"trap-{i}@yahoo.test" for i in range(traps)]
    campaign_id = _send_and_settle(services, tenant_a, internet, _readers(30, *trap_addresses))
    # The published policy as it is: at most one trap hit.
    policy = services.policy

    assert policy.evaluate_changed() == 1
    status = policy.status(tenant_a.operator)
    assert status.state is state
    trap = _finding(policy, tenant_a, "spam_trap_hits")
    assert (trap["value"], trap["limit"], trap["ratio"]) == (traps, 1, ratio)
    assert trap["text"] == f"{traps} spam-trap hits; at most 1 allowed"
    explained = status.explanation
    assert explained["figures"]["spam_trap_hits"] == traps
    assert explained["campaigns"][0]["id"] == campaign_id
    assert explained["campaigns"][0]["counts"] == {"spam-trap-hit": traps}
    (change,) = policy.history(tenant_a.operator)
    assert (change.to_state, change.reason) == (state, trap["text"])
    # A trap is never mailed again.
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        assert len(session.scalars(select(Suppression)).all()) == traps


@pytest.mark.parametrize(
    ("complainers", "thresholds", "rule", "state", "text"),
    [
        (
            3,
            {"policy_complaints_per_day_max": 2},
            "complaints_per_day",
            PolicyState.LIMITED,
            "3 spam complaints in 24 hours; at most 2 are allowed",
        ),
        (
            1,
            # The rate applies above this daily volume (1,000 in the published policy).
            {"policy_complaint_rate_min_daily": 20},
            "complaint_rate",
            PolicyState.SUSPENDED,
            "1 spam complaints for 40 messages sent in 24 hours (2.500%); the limit is 0.080%",
        ),
    ],
)
def test_spam_complaints_sent_back_by_the_feedback_loop(
    services: Services,
    tenant_a: TenantAccess,
    internet: Internet,
    complainers: int,
    thresholds: dict[str, object],
    rule: str,
    state: PolicyState,
    text: str,
) -> None:
    people = [f"complain-{i}@yahoo.test" for i in range(complainers)]
    campaign_id = _send_and_settle(services, tenant_a, internet, _readers(40, *people))
    # The provider's feedback loop sent one ARF report per complainer, and the
    # return-path server took each (a 250 reply).
    arf = [a for a in internet.sandbox.recipients.actions if a.kind == "arf"]
    assert sorted(a.rcpt for a in arf) == people
    assert all(a.result.startswith("2.0.0") for a in arf)
    policy = _policy(services, **thresholds)

    assert policy.evaluate_changed() == 1
    status = policy.status(tenant_a.operator)
    assert status.state is state
    finding = _finding(policy, tenant_a, rule)
    assert finding["text"] == text
    assert finding["ratio"] >= 1
    assert status.explanation["figures"]["complaints_last_24h"] == complainers
    assert status.explanation["campaigns"][0]["id"] == campaign_id
    assert status.explanation["campaigns"][0]["counts"] == {"complained": complainers}
    assert text in policy.history(tenant_a.operator)[0].reason


@pytest.mark.parametrize(
    ("clickers", "state", "text"),
    [
        (
            2,
            PolicyState.LIMITED,
            "1 of 50 recipients unsubscribed (2.00%); the limit is 1.40%",
        ),
        (
            0,
            PolicyState.SUSPENDED,
            (
                "1 of 50 recipients unsubscribed (2.00%); the limit is 1.00% "
                "since unsubscribes exceed clicks (0)"
            ),
        ),
    ],
)
def test_one_click_unsubscribes_from_the_mail_client(
    services: Services,
    tenant_a: TenantAccess,
    internet: Internet,
    live_http: str,
    clickers: int,
    state: PolicyState,
    text: str,
) -> None:
    special = ["unsubscribe-ann@gmail.test", *(f"click-{i}@gmail.test" for i in range(clickers))]
    campaign_id = _send_and_settle(services, tenant_a, internet, _readers(50, *special))
    # The mail client POSTed RFC 8058's body to the message's List-Unsubscribe URL.
    (unsubscribe,) = [a for a in internet.sandbox.recipients.actions if a.kind == "unsubscribe"]
    assert unsubscribe.target.startswith(f"{live_http}/u/")
    assert unsubscribe.result == "200"
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        left = session.scalars(
            select(Subscription.status).where(
                Subscription.status == SubscriptionStatus.UNSUBSCRIBED
            )
        ).all()
    assert len(left) == 1
    # 50 messages is little volume: rates count from 20 here (100 by default).
    policy = _policy(services, policy_min_volume=20)

    assert policy.evaluate_changed() == 1
    status = policy.status(tenant_a.operator)
    assert status.state is state
    finding = _finding(policy, tenant_a, "unsubscribe_rate")
    assert finding["text"] == text
    assert status.explanation["figures"]["unsubscribed"] == 1
    assert status.explanation["figures"]["clicks"] == clickers
    assert status.explanation["campaigns"][0]["id"] == campaign_id
    assert text in policy.history(tenant_a.operator)[0].reason
