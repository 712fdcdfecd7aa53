"""Issue 18 item 4: a tenant cannot take another tenant's DKIM domain.

Keys are made only for a domain the tenant has added and proven (the DNS
ownership token, or the sandbox's reserved .test exemption, first come), a
refusal stores nothing, and the owner's listing keeps answering.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from courriel.content.models import DkimKey
from courriel.policy.domains import Record
from courriel.policy.models import SenderDomain
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


def _publish(dns: DnsThread, records: list[Record]) -> None:
    txt: dict[str, list[str]] = {}
    for record in records:
        txt.setdefault(record.name + ".", []).append(record.value)
    dns.zone = make_zone("example.", txt)
    assert dns.server is not None
    dns.server.zone = dns.zone


def _rows(services: Services, tenant: TenantAccess) -> tuple[int, int]:
    with services.storage.control() as session:
        domains = session.scalars(
            select(SenderDomain).where(SenderDomain.tenant_id == tenant.tenant.id)
        ).all()
        keys = session.scalars(select(DkimKey).where(DkimKey.tenant_id == tenant.tenant.id)).all()
    return len(domains), len(keys)


def _prove(client: TestClient, services: Services, dns: DnsThread, tenant: TenantAccess) -> None:
    added = client.post("/v1/sender-domains", json={"domain": DOMAIN}, headers=tenant.headers)
    assert added.status_code == 201, added.text
    _publish(dns, services.sender_domains.records(tenant.operator, DOMAIN))
    verified = client.post(f"/v1/sender-domains/{DOMAIN}/verify", headers=tenant.headers)
    assert verified.json()["status"] == "verified", verified.text


def test_another_tenant_cannot_rotate_keys_on_a_proven_domain(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
    dns: DnsThread,
) -> None:
    _prove(client, services, dns, tenant_a)

    rotate = client.post(f"/v1/dkim/{DOMAIN}/rotate", headers=tenant_b.headers)
    assert rotate.status_code == 422, rotate.text
    assert rotate.json()["errors"][0]["field"] == "domain"
    added = client.post("/v1/sender-domains", json={"domain": DOMAIN}, headers=tenant_b.headers)
    assert added.status_code == 422
    assert "another account" in added.json()["errors"][0]["detail"]

    # Nothing of B's was stored, B's mail cannot be signed d=shop.example, and
    # both listings answer.
    assert _rows(services, tenant_b) == (0, 0)
    assert services.dkim_keys.signers(tenant_b.tenant.id, DOMAIN) == []
    assert client.get("/v1/sender-domains", headers=tenant_b.headers).json() == []
    listing = client.get("/v1/sender-domains", headers=tenant_a.headers)
    assert listing.status_code == 200
    assert [d["domain"] for d in listing.json()] == [DOMAIN]
    # The owner still rotates its own keys.
    assert client.post(f"/v1/dkim/{DOMAIN}/rotate", headers=tenant_a.headers).status_code == 201


def test_keys_taken_first_on_an_unproven_domain_do_not_lock_out_its_owner(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
    dns: DnsThread,
) -> None:
    # B asks for keys on a domain it never added: refused, nothing stored.
    early = client.post(f"/v1/dkim/{DOMAIN}/rotate", headers=tenant_b.headers)
    assert early.status_code == 422, early.text
    assert _rows(services, tenant_b) == (0, 0)
    # B adds it (pending, never proven): that must not lock its owner out.
    assert (
        client.post("/v1/sender-domains", json={"domain": DOMAIN}, headers=tenant_b.headers)
    ).status_code == 201
    assert client.post(f"/v1/dkim/{DOMAIN}/rotate", headers=tenant_b.headers).status_code == 422

    _prove(client, services, dns, tenant_a)
    listing = client.get("/v1/sender-domains", headers=tenant_a.headers)
    assert listing.status_code == 200, listing.text
    assert {r["purpose"] for r in listing.json()[0]["records"]} >= {"ownership", "dkim"}
    assert client.post(f"/v1/dkim/{DOMAIN}/rotate", headers=tenant_a.headers).status_code == 201
    # B's unproven keys for the domain were withdrawn when A proved it.
    assert services.dkim_keys.signers(tenant_b.tenant.id, DOMAIN) == []
    assert client.get("/v1/sender-domains", headers=tenant_b.headers).status_code == 200


def test_a_sandbox_domain_in_use_cannot_be_taken_by_another_tenant(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    # A sends from brand.test: the sandbox records it as A's verified domain
    # (reserved TLD), without keys yet. B's rotate on it answered 201 on main.
    campaign = make_campaign(
        services,
        tenant_a,
        [seed_list(services, tenant_a, ["a@x.test"])],
        from_email="news@brand.test",
    )
    services.campaign_control.send(tenant_a.operator, campaign)
    listing = client.get("/v1/sender-domains", headers=tenant_a.headers)
    assert listing.status_code == 200, listing.text

    taken = client.post("/v1/dkim/brand.test/rotate", headers=tenant_b.headers)
    assert taken.status_code == 422, taken.text
    assert "another account" in taken.json()["errors"][0]["detail"]
    assert _rows(services, tenant_b) == (0, 0)
    assert services.dkim_keys.signers(tenant_b.tenant.id, "brand.test") == []
    refused = client.post(
        "/v1/sender-domains", json={"domain": "brand.test"}, headers=tenant_b.headers
    )
    assert refused.status_code == 422
    assert _rows(services, tenant_b) == (0, 0)

    # A is not refused on its own domain, and its listing keeps answering.
    assert client.post("/v1/dkim/brand.test/rotate", headers=tenant_a.headers).status_code == 201
    listing = client.get("/v1/sender-domains", headers=tenant_a.headers)
    assert listing.status_code == 200, listing.text
    assert "dkim" in {r["purpose"] for r in listing.json()[0]["records"]}
