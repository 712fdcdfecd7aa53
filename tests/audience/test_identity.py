"""An address is one person whatever the case it is typed in: one contact per
case-folded address (keeping the spelling first given, for sending), one
suppression hash, and a migration that merges the duplicates of older data."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from courriel.audience.models import Suppression, SuppressionReason
from courriel.core import migrate
from courriel.core.addresses import tenant_address_hash, tenant_hash_key
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.seeds.rights import (
    CONSENT,
    add_person,
    fulfil,
    make_campaign,
    make_list,
    new_request,
    send,
)
from tests.support.tenants import TenantAccess

ZOE = "zoe.gdpr@gmail.test"


def _import(client: TestClient, who: TenantAccess, list_id: str, csv: str) -> dict[str, int]:
    started = client.post(
        f"/v1/lists/{list_id}/imports",
        files={"file": ("people.csv", csv.encode(), "text/csv")},
        data={"legal_basis": "consent", "source": "customers"},
        headers=who.headers,
    )
    assert started.status_code == 202, started.text
    progress = client.get(f"/v1/imports/{started.json()['id']}", headers=who.headers).json()
    return {k: int(progress[k]) for k in ("imported", "unchanged", "rejected")}


def _contacts(client: TestClient, who: TenantAccess) -> list[dict[str, object]]:
    found: list[dict[str, object]] = client.get("/v1/contacts", headers=who.headers).json()["data"]
    return found


def test_one_contact_per_address_whatever_its_case(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    news = make_list(client, tenant_a, "News")
    offers = make_list(client, tenant_a, "Offers")
    zoe = add_person(client, tenant_a, news, ZOE, "Zoe")
    again = client.post(
        "/v1/contacts",
        json={"email": "ZOE.GDPR@gmail.test", "lists": [offers], "consent": CONSENT},
        headers=tenant_a.headers,
    )
    assert again.status_code == 201, again.text
    assert again.json()["contact"]["id"] == zoe
    # Within one file and against the stored contact: case duplicates are one person.
    counts = _import(client, tenant_a, offers, "email\nZoe.Gdpr@gmail.test\nZOE.gdpr@GMAIL.test\n")
    assert counts["imported"] == 0
    assert [c["email"] for c in _contacts(client, tenant_a)] == [ZOE]
    assert client.get(f"/v1/contacts/{zoe}/subscriptions", headers=tenant_a.headers).json() == {
        news: "subscribed",
        offers: "subscribed",
    }
    # One person, one message, to the spelling first given.
    send(client, tenant_a, make_campaign(client, tenant_a, news))
    deliver_all(services)
    inbox = sandbox.store.inbox(ZOE)
    assert len(inbox) == 1
    assert ZOE in inbox[0].as_email()["To"]


def test_an_erased_address_stays_erased_in_every_case(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    tid = tenant_a.tenant.id
    news = make_list(client, tenant_a, "News")
    zoe = add_person(client, tenant_a, news, ZOE, "Zoe")
    fulfil(client, tenant_a, new_request(client, tenant_a, "erasure", zoe)["id"])

    for spelling in ("Zoe.Gdpr@gmail.test", "ZOE.GDPR@GMAIL.TEST"):
        refused = client.post(
            "/v1/contacts",
            json={"email": spelling, "lists": [news], "consent": CONSENT},
            headers=tenant_a.headers,
        )
        assert refused.status_code == 409, spelling
        assert "erased" in refused.json()["detail"]
    assert _import(client, tenant_a, news, "email\nZOE.GDPR@gmail.test\n")["rejected"] == 1
    assert _contacts(client, tenant_a) == []
    key = services.secret_key
    assert tenant_address_hash(key, tid, "Zoe.GDPR@gmail.test") == tenant_address_hash(
        key, tid, ZOE
    )
    # A suppression added by hand in another case is the same address.
    manual = client.post(
        "/v1/suppressions", json={"address": "ZOE.gdpr@gmail.test"}, headers=tenant_a.headers
    )
    assert manual.status_code == 409


def test_a_rectified_address_cannot_take_another_contacts_in_another_case(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    news = make_list(client, tenant_a, "News")
    add_person(client, tenant_a, news, ZOE, "Zoe")
    bob = add_person(client, tenant_a, news, "bob@gmail.test", "Bob")
    response = client.post(
        "/v1/privacy/requests",
        json={
            "type": "rectification",
            "contact_id": bob,
            "changes": {"email": "Zoe.Gdpr@gmail.test"},
        },
        headers=tenant_a.headers,
    )
    assert response.status_code == 201, response.text
    url = f"/v1/privacy/requests/{response.json()['id']}/fulfil"
    taken = client.post(url, headers=tenant_a.headers)
    assert taken.status_code == 409, taken.text
    assert "another contact" in taken.json()["detail"]
    # Changing the case of one's own address is a rectification like any other.
    own = new_request(client, tenant_a, "rectification", bob, changes={"email": "Bob@gmail.test"})
    assert fulfil(client, tenant_a, own["id"])["status"] == "fulfilled"
    assert client.get(f"/v1/contacts/{bob}", headers=tenant_a.headers).json()["email"] == (
        "Bob@gmail.test"
    )


def _migrate_to(engine_url: str, revisions: list[str]) -> None:
    engine = create_engine(engine_url)
    config = migrate.alembic_config("tenant")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        for revision in revisions:
            command.upgrade(config, revision)
    engine.dispose()


def test_the_migration_merges_case_duplicates_keeping_every_consent_record(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'tenant.db'}"
    before = [
        "tenant_campaigns_0003",
        "tenant_content_0003",
        "tenant_privacy_gov_0005",
        "tenant_privacy_rights_0004",
        "tenant_tracking_0003",
    ]
    _migrate_to(url, before)
    engine = create_engine(url)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).replace(tzinfo=None)  # stored naive, as UTC
    people = [
        ("con_1", ZOE, now, "Zoe", None),
        ("con_2", "ZOE.GDPR@gmail.test", now + dt.timedelta(days=1), None, "Gdpr"),
        ("con_3", "Zoe.Gdpr@gmail.test", now + dt.timedelta(days=2), "Zoé", None),
        ("con_4", "bob@gmail.test", now, "Bob", None),
    ]
    with engine.begin() as conn:
        for cid, email, created, first, last in people:
            conn.execute(
                text(
                    "INSERT INTO contacts (id, email, email_domain, first_name, last_name,"
                    " properties, no_tracking, restricted, created_at, updated_at) VALUES"
                    " (:id, :email, 'gmail.test', :first, :last, :props, 0, 0, :at, :at)"
                ),
                {
                    "id": cid,
                    "email": email,
                    "first": first,
                    "last": last,
                    "props": json.dumps({"city": cid}),
                    "at": created,
                },
            )
        for lst in ("lst_news", "lst_offers"):
            conn.execute(
                text(
                    "INSERT INTO lists (id, name, purpose, double_opt_in, tracking,"
                    " purpose_version, created_at) VALUES (:id, :id, '', 0, 1, 1, :at)"
                ),
                {"id": lst, "at": now},
            )
        subscriptions = [
            ("lst_news", "con_1", "unsubscribed"),
            ("lst_news", "con_2", "subscribed"),
            ("lst_offers", "con_3", "subscribed"),
            ("lst_news", "con_4", "subscribed"),
        ]
        for lst, cid, status in subscriptions:
            conn.execute(
                text(
                    "INSERT INTO subscriptions (list_id, contact_id, status, created_at,"
                    " updated_at) VALUES (:l, :c, :s, :at, :at)"
                ),
                {"l": lst, "c": cid, "s": status, "at": now},
            )
            conn.execute(
                text(
                    "INSERT INTO consent_records (contact_id, list_id, action, source,"
                    " legal_basis, purpose_text, purpose_version, principal, occurred_at)"
                    " VALUES (:c, :l, 'given', 'api', 'consent', 'yes', 1, 'op', :at)"
                ),
                {"l": lst, "c": cid, "at": now},
            )
    engine.dispose()

    _migrate_to(url, ["heads"])

    engine = create_engine(url)
    with engine.connect() as conn:
        contacts = conn.execute(
            text("SELECT id, email, first_name, last_name FROM contacts ORDER BY id")
        ).all()
        consents = conn.execute(
            text("SELECT contact_id, list_id FROM consent_records ORDER BY id")
        ).all()
        subs: dict[str, str] = dict(
            conn.execute(
                text("SELECT list_id, status FROM subscriptions WHERE contact_id = 'con_1'")
            ).all()
        )
    engine.dispose()
    # The first spelling stays, with what the later duplicates add.
    assert [tuple(c) for c in contacts] == [
        ("con_1", ZOE, "Zoe", "Gdpr"),
        ("con_4", "bob@gmail.test", "Bob", None),
    ]
    assert [tuple(c) for c in consents] == [
        ("con_1", "lst_news"),
        ("con_1", "lst_news"),
        ("con_1", "lst_offers"),
        ("con_4", "lst_news"),
    ]
    # Where two spellings were on one list, a withdrawal outranks a subscription.
    assert subs == {"lst_news": "unsubscribed", "lst_offers": "subscribed"}


def test_suppressions_hashed_as_typed_before_folding_are_rehashed_by_migrate(
    services: Services, client: TestClient, tenant_a: TenantAccess
) -> None:
    news = make_list(client, tenant_a)
    add_person(client, tenant_a, news, "Ana.Case@gmail.test", "Ana")
    tenant_id = tenant_a.tenant.id
    # A suppression made before addresses were folded: the hash of the spelling typed.
    key = tenant_hash_key(services.secret_key, tenant_id)
    legacy = hmac.new(key, b"Ana.Case@gmail.test", hashlib.sha256).hexdigest()
    with services.storage.tenant(tenant_id)() as session:
        session.add(
            Suppression(
                address_hash=legacy,
                reason=SuppressionReason.HARD_BOUNCE,
                detail="550 5.1.1 from before",
                created_at=services.clock.now(),
            )
        )
        session.commit()
    suppressions = services.audience.suppressions
    assert not suppressions.is_suppressed(tenant_a.operator, "ana.case@gmail.test")

    assert suppressions.refold_hashes(tenant_id) == 1
    assert suppressions.is_suppressed(tenant_a.operator, "ana.case@gmail.test")
    assert suppressions.is_suppressed(tenant_a.operator, "ANA.CASE@gmail.test")
    assert suppressions.refold_hashes(tenant_id) == 0  # idempotent
