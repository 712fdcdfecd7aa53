"""The suppression list names the address for every reason but erasure: a sender sees
who bounced or complained; an erased person stays a keyed hash alone."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from courriel.core.principal import Principal
from courriel.services import Services
from tests.support.delivery import Mailer
from tests.support.sandbox import Internet
from tests.support.tenants import make_tenant


def test_bounces_complaints_and_manual_suppressions_show_their_address(
    client: TestClient,
    services: Services,
    internet: Internet,
    mailer: Mailer,
    deliver: Callable[[], None],
) -> None:
    mailer.send(["unknown-ann@gmail.test", "complain-cid@yahoo.test", "bea@gmail.test"])
    deliver()
    internet.settle()
    access = make_tenant(services, "Other")  # the mailer's tenant, seen through a key:
    operator_key = services.api_keys.create(Principal.operator(mailer.tenant_id), "suppressions")
    h = {"Authorization": f"Bearer {operator_key.secret}"}
    added = client.post(
        "/v1/suppressions", json={"address": "ops@example.test", "reason": "manual"}, headers=h
    )
    assert added.status_code == 201, added.text
    assert added.json()["address"] == "ops@example.test"

    rows = client.get("/v1/suppressions", headers=h).json()["data"]
    assert {r["address"]: r["reason"] for r in rows} == {
        "unknown-ann@gmail.test": "hard-bounce",
        "complain-cid@yahoo.test": "complaint",
        "ops@example.test": "manual",
    }
    assert all(len(r["address_hash"]) == 64 for r in rows)
    # Another tenant sees none of them.
    assert client.get("/v1/suppressions", headers=access.headers).json()["data"] == []

    # Erasing the person who bounced leaves the hash alone.
    contacts = client.get("/v1/contacts", headers=h).json()["data"]
    ann = next(c for c in contacts if c["email"] == "unknown-ann@gmail.test")
    assert client.delete(f"/v1/contacts/{ann['id']}", headers=h).status_code == 204
    rows = client.get("/v1/suppressions", headers=h).json()["data"]
    erased = [r for r in rows if r["reason"] == "erasure"]
    assert len(erased) == 1
    assert erased[0]["address"] is None
    assert "unknown-ann" not in str(rows)
