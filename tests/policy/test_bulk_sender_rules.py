"""The bulk-sender rules of a sender domain against the sandbox internet's DNS: a
well-configured domain passes every rule; a broken one fails each with the right fix;
complaint rate and late unsubscribes measured from the events; another tenant's domain
out of reach; the DMARC and SPF readers on bad records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from courriel.config import Settings
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.policy import dmarc
from courriel.policy.bulksender import RuleStatus
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.databases import Templates, build_services
from tests.support.people import PASSWORD, make_user, sign_in
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import TenantAccess

IP = "192.0.2.10"
GOOD = "shop.test"
BROKEN = "broken.test"


@pytest.fixture
def services(settings: Settings, templates: Templates) -> Iterator[Services]:
    settings.sending_ips = [IP]
    built = build_services(settings, templates)
    yield built
    built.close()


def _publish_good(services: Services, tenant: TenantAccess, sandbox: Sandbox) -> None:
    records: dict[str, dict[str, list[str]]] = {
        GOOD: {"TXT": ["google-site-verification=x", "v=spf1 include:_spf.courriel.test ~all"]},
        "_spf.courriel.test": {"TXT": [f"v=spf1 ip4:{IP}/32 -all"]},
        f"_dmarc.{GOOD}": {"TXT": [f"v=DMARC1 ; p=none; rua=mailto:dmarc@{GOOD};"]},
        "10.2.0.192.in-addr.arpa": {"PTR": ["mta.courriel.test."]},
        "mta.courriel.test": {"A": [IP]},
    }
    for record in services.sender_domains.records(tenant.operator, GOOD):
        if record.purpose == "dkim":
            records[record.name] = {"TXT": [record.value]}
    sandbox.publish(records)


def _by_name(services: Services, tenant: TenantAccess, domain: str) -> dict[str, object]:
    return {r.name: r for r in services.bulk_sender.check(tenant.operator, domain)}


def _deliveries(
    services: Services, tenant: TenantAccess, campaign_id: str, delivered: int, complained: int
) -> None:
    at = services.clock.now() - dt.timedelta(days=3)
    events = [
        NewEvent(
            type=EventType.DELIVERED,
            occurred_at=at,
            campaign_id=campaign_id,
            message_id=f"msg_{i}",
            lane="gmail.test",
        )
        for i in range(delivered)
    ] + [
        NewEvent(
            type=EventType.COMPLAINED,
            occurred_at=at,
            campaign_id=campaign_id,
            message_id=f"msg_{i}",
        )
        for i in range(complained)
    ]
    with transaction(services.storage.tenant(tenant.tenant.id)) as session:
        record_events(session, events)


def test_a_well_configured_domain_passes_every_rule(
    services: Services, tenant_a: TenantAccess, sandbox: Sandbox, client: TestClient
) -> None:
    services.sender_domains.add(tenant_a.operator, GOOD)
    _publish_good(services, tenant_a, sandbox)
    list_id = seed_list(services, tenant_a, ["a@example.test"])
    campaign = make_campaign(services, tenant_a, [list_id], from_email=f"news@{GOOD}")
    _deliveries(services, tenant_a, campaign, delivered=2000, complained=1)

    rules = client.get(f"/v1/sender-domains/{GOOD}/bulk-sender-rules", headers=tenant_a.headers)

    assert rules.status_code == 200
    body = rules.json()
    assert [r["name"] for r in body] == [
        "spf",
        "dkim",
        "alignment",
        "dmarc",
        "one-click-unsubscribe",
        "unsubscribes-honoured",
        "complaint-rate",
        "reverse-dns",
    ]
    assert {r["name"]: r["status"] for r in body} == dict.fromkeys(
        (r["name"] for r in body), "pass"
    ), body
    assert all(r["fix"] == "" for r in body)
    by_name = {r["name"]: r for r in body}
    assert "p=none" in by_name["dmarc"]["reason"]
    assert "google 0.05% (1/2000)" in by_name["complaint-rate"]["reason"]

    # The domain page links to them, and the rules page shows each verdict.
    make_user(services, tenant_a, email="ana@example.test")
    assert sign_in(client, "ana@example.test", PASSWORD).status_code == 303
    assert f"/app/domains/{GOOD}/rules" in client.get(f"/app/domains/{GOOD}").text
    page = client.get(f"/app/domains/{GOOD}/rules").text
    assert page.count('data-status="pass"') == 8


def test_a_broken_domain_fails_each_rule_with_its_fix(
    services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    services.sender_domains.add(tenant_a.operator, BROKEN)
    sandbox.publish(
        {
            BROKEN: {"TXT": ["v=spf1 ip4:198.51.100.0/24 -all"]},
            f"_dmarc.{BROKEN}": {"TXT": ["v=DMARC1; p=monitor"]},
            "10.2.0.192.in-addr.arpa": {"PTR": ["mail.broken.test"]},
        }
    )
    list_id = seed_list(services, tenant_a, ["a@example.test"])
    campaign = make_campaign(services, tenant_a, [list_id], from_email=f"news@{BROKEN}")
    _deliveries(services, tenant_a, campaign, delivered=1000, complained=5)
    # Someone unsubscribed through the campaign, and was queued its list's mail 3 days later.
    later = make_campaign(services, tenant_a, [list_id], from_email=f"news@{BROKEN}")
    now = services.clock.now()
    with transaction(services.storage.tenant(tenant_a.tenant.id)) as session:
        record_events(
            session,
            [
                NewEvent(
                    type=EventType.UNSUBSCRIBED,
                    occurred_at=now - dt.timedelta(days=10),
                    campaign_id=campaign,
                    contact_id="con_gone",
                ),
                NewEvent(
                    type=EventType.QUEUED,
                    occurred_at=now - dt.timedelta(days=7),
                    campaign_id=later,
                    contact_id="con_gone",
                ),
            ],
        )

    rules = _by_name(services, tenant_a, BROKEN)

    assert {name: r.status for name, r in rules.items()} == {  # type: ignore[attr-defined]
        "spf": RuleStatus.FAIL,
        "dkim": RuleStatus.FAIL,
        "alignment": RuleStatus.FAIL,
        "dmarc": RuleStatus.FAIL,
        "one-click-unsubscribe": RuleStatus.PASS,
        "unsubscribes-honoured": RuleStatus.FAIL,
        "complaint-rate": RuleStatus.FAIL,
        "reverse-dns": RuleStatus.FAIL,
    }
    spf_rule, dkim_rule = rules["spf"], rules["dkim"]
    assert f"does not authorize {IP}" in spf_rule.reason  # type: ignore[attr-defined]
    assert "include:_spf.courriel.test" in spf_rule.fix  # type: ignore[attr-defined]
    assert "._domainkey.broken.test" in dkim_rule.fix  # type: ignore[attr-defined]
    assert "p=monitor is not one of" in rules["dmarc"].reason  # type: ignore[attr-defined]
    assert "v=DMARC1; p=none" in rules["dmarc"].fix  # type: ignore[attr-defined]
    assert "1 of 1 people" in rules["unsubscribes-honoured"].reason  # type: ignore[attr-defined]
    assert "google 0.50% (5/1000)" in rules["complaint-rate"].reason  # type: ignore[attr-defined]
    assert "does not resolve back" in rules["reverse-dns"].reason  # type: ignore[attr-defined]
    assert "PTR record" in rules["reverse-dns"].fix  # type: ignore[attr-defined]


def test_no_sending_ip_configured_is_unknown_not_pass(
    services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    services.settings.sending_ips = []
    services.sender_domains.add(tenant_a.operator, GOOD)
    _publish_good(services, tenant_a, sandbox)
    rules = _by_name(services, tenant_a, GOOD)
    assert rules["spf"].status is RuleStatus.UNKNOWN  # type: ignore[attr-defined]
    assert rules["reverse-dns"].status is RuleStatus.UNKNOWN  # type: ignore[attr-defined]
    assert rules["complaint-rate"].status is RuleStatus.UNKNOWN  # type: ignore[attr-defined]


def test_another_tenants_domain_is_out_of_reach(
    services: Services,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
    sandbox: Sandbox,
    client: TestClient,
) -> None:
    services.sender_domains.add(tenant_a.operator, GOOD)
    with pytest.raises(NotFoundError):
        services.bulk_sender.check(tenant_b.operator, GOOD)
    answer = client.get(f"/v1/sender-domains/{GOOD}/bulk-sender-rules", headers=tenant_b.headers)
    assert answer.status_code == 404
    bad = client.get("/v1/sender-domains/not a domain/bulk-sender-rules", headers=tenant_a.headers)
    assert bad.status_code == 422
    assert "domain" in bad.text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("v=DMARC1; p=reject; p=none", "appears twice"),
        ("p=reject; v=DMARC1", "must start with v=DMARC1"),
        ("v=DMARC1; quarantine", "is not a tag=value pair"),
        ("v=DMARC1; pct=50", "no p= tag"),
        ("v=DMARC1; p=reject; adkim=x", "adkim=x is not one of r, s"),
    ],
)
def test_bad_dmarc_records_are_named(text: str, problem: str) -> None:
    with pytest.raises(dmarc.DmarcError, match=problem):
        dmarc.parse(text)


def test_dmarc_records_read_with_care() -> None:
    assert dmarc.parse("v=DMARC1;p=Quarantine;pct=20").policy == "quarantine"
    assert dmarc.parse("v=DMARC1;p=Quarantine;pct=20").percent == 20
    lenient = dmarc.parse("v=DMARC1; rua=mailto:d@x.test")
    assert (lenient.policy, lenient.assumed_none) == ("none", True)
    assert dmarc.pick_record(["spf stuff", "v=DMARC1; p=none"]) == "v=DMARC1; p=none"
    assert dmarc.pick_record(["v=DMARC10; p=none"]) is None
    with pytest.raises(dmarc.DmarcError, match="more than one"):
        dmarc.pick_record(["v=DMARC1; p=none", "v=DMARC1; p=reject"])
