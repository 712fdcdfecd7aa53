"""Every message Courriel sends is DKIM-signed, the sandbox's own domains included:
a From domain never added gets keys and is listed like any other."""

from __future__ import annotations

import dkim as dkimpy
from fastapi.testclient import TestClient

from courriel.cli.demo import seed_demo
from courriel.core.principal import Principal
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import TenantAccess


def _verifies(data: bytes, records: list[dict[str, str]]) -> list[bool]:
    published = {f"{r['name']}.".encode(): r["value"].encode() for r in records}

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return published.get(name)

    return [
        bool(dkimpy.DKIM(data).verify(idx=index, dnsfunc=dnsfunc))
        for index in range(data.count(b"DKIM-Signature:"))
    ]


def test_mail_from_a_sandbox_domain_never_added_is_signed_and_the_domain_listed(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    campaign = make_campaign(
        services, tenant_a, [seed_list(services, tenant_a, ["ada@gmail.test"])]
    )
    services.campaign_control.send(tenant_a.operator, campaign)
    deliver_all(services)

    listed = client.get("/v1/sender-domains", headers=tenant_a.headers)
    assert listed.status_code == 200, listed.text
    (domain,) = listed.json()
    assert domain["domain"] == "acme.test"
    assert domain["status"] == "verified"
    dkim_records = [r for r in domain["records"] if r["purpose"] == "dkim"]
    assert len(dkim_records) == 2
    (received,) = sandbox.store.inbox("ada@gmail.test")
    assert _verifies(received.data, dkim_records) == [True, True]
    assert b"d=acme.test" in received.data


def test_the_demo_domain_gets_keys_and_is_verified_like_any_other(
    client: TestClient, services: Services, sandbox: Sandbox
) -> None:
    seed = seed_demo(services)
    operator = Principal.operator(seed.tenant_id)
    headers = {"Authorization": f"Bearer {seed.api_key}"}
    domain = client.get("/v1/sender-domains/demo.courriel.test", headers=headers)
    assert domain.status_code == 200, domain.text
    assert domain.json()["status"] == "verified"
    assert domain.json()["sending_problem"] is None

    services.campaign_control.send(operator, seed.campaign_id)
    deliver_all(services)

    records = [
        r
        for r in client.get("/v1/sender-domains", headers=headers).json()[0]["records"]
        if r["purpose"] == "dkim"
    ]
    for address in seed.recipients:
        (received,) = sandbox.store.inbox(address)
        assert _verifies(received.data, records) == [True, True], address
