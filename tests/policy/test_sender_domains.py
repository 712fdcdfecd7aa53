"""Sender domains against a local authoritative DNS server: the ownership token, good and
bad SPF, DKIM and DMARC records, webmail refused, sandbox domains, tenant isolation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from courriel.campaigns.models import CampaignStatus
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.policy.domains import SANDBOX_REASON, Record
from courriel.policy.models import DomainStatus, SenderDomain
from courriel.services import Services
from tests.support.dns import DnsThread, make_zone
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import TenantAccess

DOMAIN = "shop.example"


@pytest.fixture
def dns(services: Services) -> Iterator[DnsThread]:
    with DnsThread(make_zone("example.", {})) as server:
        services.settings.dns_nameservers = [f"127.0.0.1:{server.port}"]
        yield server


def _publish(dns: DnsThread, records: list[Record], **changes: list[str]) -> None:
    """Publish the records (each purpose can be replaced by other values, or [] for none)."""
    txt: dict[str, list[str]] = {}
    for record in records:
        values = changes.get(record.purpose, [record.value])
        txt.setdefault(record.name + ".", []).extend(values)
    dns.zone = make_zone("example.", txt)
    assert dns.server is not None
    dns.server.zone = dns.zone


def test_the_records_to_publish(services: Services, tenant_a: TenantAccess) -> None:
    services.sender_domains.add(tenant_a.operator, DOMAIN)
    records = services.sender_domains.records(tenant_a.operator, DOMAIN)
    by_purpose = {r.purpose: r for r in records}
    assert by_purpose["ownership"].name == f"_courriel.{DOMAIN}"
    assert by_purpose["ownership"].value.startswith("courriel-verification=")
    assert by_purpose["spf"].value == "v=spf1 include:_spf.courriel.test ~all"
    assert by_purpose["dmarc"].name == f"_dmarc.{DOMAIN}"
    dkim = [r for r in records if r.purpose == "dkim"]
    assert len(dkim) == 2
    assert all(r.name.endswith(f"._domainkey.{DOMAIN}") for r in dkim)
    assert all(r.value.startswith("v=DKIM1;") for r in dkim)


def test_a_verified_aligned_domain_may_send(
    services: Services, tenant_a: TenantAccess, dns: DnsThread
) -> None:
    services.sender_domains.add(tenant_a.operator, DOMAIN)
    campaign = make_campaign(
        services,
        tenant_a,
        [seed_list(services, tenant_a, ["a@x.test"])],
        from_email=f"news@{DOMAIN}",
    )
    with pytest.raises(InvalidInputError, match="ownership not verified") as refused:
        services.campaign_control.send(tenant_a.operator, campaign)
    assert refused.value.field == "from_email"

    _publish(dns, services.sender_domains.records(tenant_a.operator, DOMAIN))
    row = services.sender_domains.verify(tenant_a.operator, DOMAIN)

    assert row.status is DomainStatus.VERIFIED
    assert {name: check["ok"] for name, check in row.checks.items()} == {
        "ownership": True,
        "spf": True,
        "dkim": True,
        "dmarc": True,
    }
    assert row.checks["dmarc"]["policy"] == "quarantine"
    services.campaign_control.send(tenant_a.operator, campaign)


@pytest.mark.parametrize(
    ("purpose", "values", "check", "detail"),
    [
        ("spf", [], "spf", "no SPF record"),
        ("spf", ["v=spf1 include:other.example ~all"], "spf", "does not include"),
        ("spf", ["v=spf1 +all"], "spf", "+all"),
        (
            "spf",
            ["v=spf1 include:_spf.courriel.test ~all", "v=spf1 -all"],
            "spf",
            "more than one SPF record",
        ),
        ("dkim", [], "dkim", "not published"),
        (
            "dkim",
            ["v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwrong"],
            "dkim",
            "not published",
        ),
        ("dmarc", [], "dmarc", "no DMARC record"),
        ("dmarc", ["v=DMARC1; rua=mailto:x@shop.example"], "dmarc", "no valid p= tag"),
        ("ownership", ["courriel-verification=someone-elses-token"], "ownership", "not found"),
    ],
)
def test_bad_records_are_reported_and_block_sending(
    services: Services,
    tenant_a: TenantAccess,
    dns: DnsThread,
    purpose: str,
    values: list[str],
    check: str,
    detail: str,
) -> None:
    services.sender_domains.add(tenant_a.operator, DOMAIN)
    _publish(dns, services.sender_domains.records(tenant_a.operator, DOMAIN), **{purpose: values})

    row = services.sender_domains.verify(tenant_a.operator, DOMAIN)

    assert row.checks[check]["ok"] is False
    assert detail in row.checks[check]["detail"]
    others = {name for name, c in row.checks.items() if not c["ok"]}
    assert others == {check}
    campaign = make_campaign(
        services,
        tenant_a,
        [seed_list(services, tenant_a, ["a@x.test"])],
        from_email=f"news@{DOMAIN}",
    )
    if check == "spf":
        # SPF cannot align here (the Return-Path is ours): DKIM carries DMARC alignment.
        services.campaign_control.send(tenant_a.operator, campaign)
    else:
        with pytest.raises(InvalidInputError) as refused:
            services.campaign_control.send(tenant_a.operator, campaign)
        assert refused.value.field == "from_email"


@pytest.mark.parametrize(
    "domain", ["gmail.com", "yahoo.fr", "hotmail.co.uk", "orange.fr", "gmx.de"]
)
def test_free_webmail_is_refused_with_the_reason(
    services: Services, tenant_a: TenantAccess, domain: str
) -> None:
    with pytest.raises(InvalidInputError, match="p=reject"):
        services.sender_domains.add(tenant_a.operator, domain)
    campaign = make_campaign(
        services, tenant_a, [seed_list(services, tenant_a, ["a@x.test"])], from_email=f"me@{domain}"
    )
    with pytest.raises(InvalidInputError, match=r"free webmail.*p=reject") as refused:
        services.campaign_control.send(tenant_a.operator, campaign)
    assert refused.value.field == "from_email"


def test_sandbox_domains_count_as_verified_with_the_reason_recorded(
    services: Services, tenant_a: TenantAccess
) -> None:
    campaign = make_campaign(services, tenant_a, [seed_list(services, tenant_a, ["a@x.test"])])
    services.campaign_control.send(tenant_a.operator, campaign)
    with services.storage.control() as session:
        row = session.scalar(select(SenderDomain).where(SenderDomain.domain == "acme.test"))
    assert row is not None
    assert row.reason == SANDBOX_REASON


def test_verification_can_be_switched_off(services: Services, tenant_a: TenantAccess) -> None:
    # The installation's default refuses an unverified sender domain...
    refused = make_campaign(
        services,
        tenant_a,
        [seed_list(services, tenant_a, ["a@x.test"])],
        from_email=f"news@{DOMAIN}",
    )
    with pytest.raises(InvalidInputError, match="not a sender domain of this account"):
        services.campaign_control.send(tenant_a.operator, refused)
    assert services.campaigns.get(tenant_a.operator, refused).status is CampaignStatus.DRAFT
    # ...and an installation that switched the check off (its own settings,
    # over the same databases) sends the same campaign.
    relaxed = Services.build(
        services.settings.model_copy(update={"require_verified_sender_domain": False}),
        services.clock,
    )
    try:
        relaxed.campaign_control.send(tenant_a.operator, refused)
        assert relaxed.campaigns.get(tenant_a.operator, refused).status is CampaignStatus.SENDING
    finally:
        relaxed.close()
    assert services.settings.require_verified_sender_domain is True


def test_another_tenants_domain_is_out_of_reach(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess, dns: DnsThread
) -> None:
    services.sender_domains.add(tenant_a.operator, DOMAIN)
    _publish(dns, services.sender_domains.records(tenant_a.operator, DOMAIN))
    services.sender_domains.verify(tenant_a.operator, DOMAIN)
    with pytest.raises(NotFoundError):
        services.sender_domains.get(tenant_b.operator, DOMAIN)
    with pytest.raises(InvalidInputError, match="another account"):
        services.sender_domains.add(tenant_b.operator, DOMAIN)
    assert services.sender_domains.list_domains(tenant_b.operator) == []


def test_sender_domains_over_http(client: TestClient, tenant_a: TenantAccess) -> None:
    h = tenant_a.headers
    added = client.post("/v1/sender-domains", json={"domain": "Shop.Example."}, headers=h)
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["domain"] == DOMAIN
    assert body["status"] == "pending"
    assert "ownership not verified" in body["sending_problem"]
    assert {r["purpose"] for r in body["records"]} == {"ownership", "spf", "dkim", "dmarc"}
    bad = client.post("/v1/sender-domains", json={"domain": "not a domain"}, headers=h)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "domain"
    webmail = client.post("/v1/sender-domains", json={"domain": "gmail.com"}, headers=h)
    assert webmail.status_code == 422
    assert "p=reject" in webmail.json()["errors"][0]["detail"]
    assert [d["domain"] for d in client.get("/v1/sender-domains", headers=h).json()] == [DOMAIN]
    assert client.get("/v1/sender-domains/other.example", headers=h).status_code == 404
