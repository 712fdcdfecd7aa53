"""Erasure proven by storage: after it, the tenant's database holds the address
nowhere but as its keyed hash, and campaign statistics are unchanged."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, select, text

from courriel.campaigns.models import CampaignRecipient, RecipientState
from courriel.content.links import click_token
from courriel.core.addresses import tenant_address_hash
from courriel.core.db import _sqlite_pragmas, transaction
from courriel.delivery.models import SpoolMessage
from courriel.events.models import Event, EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.privacy.erasure import sqlite_files
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.seeds.rights import (
    add_person,
    fulfil,
    make_campaign,
    make_list,
    message_of,
    new_request,
    send,
)
from tests.support.tenants import TenantAccess

ADA = "ada.lovelace@gmail.test"
VARIANT = "Ada.LOVELACE@gmail.test"
GRACE = "grace@yahoo.test"


def _engine(services: Services, who: TenantAccess) -> Engine:
    engine: Engine = services.storage.tenant(who.tenant.id).kw["bind"]
    return engine


def _tenant_bytes(services: Services, who: TenantAccess) -> bytes:
    """Every byte the tenant's database keeps: its SQLite files, or its PostgreSQL rows."""
    if not services.storage.is_postgres:
        path = services.storage.tenant_sqlite_path(who.tenant.id)
        return b"".join(f.read_bytes() for f in sqlite_files(path) if f.exists())
    engine = _engine(services, who)
    dump: list[str] = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            rows = conn.execute(text(f'SELECT CAST(t AS text) FROM "{table}" AS t'))
            dump.extend(str(r[0]) for r in rows)
    return "\n".join(dump).encode()


def _spool_bytes(services: Services) -> bytes:
    """Every byte the spool database keeps (shared by every tenant)."""
    engine = services.storage.spool_engine
    if not services.storage.is_postgres:
        return b"".join(
            f.read_bytes() for f in sqlite_files(Path(str(engine.url.database))) if f.exists()
        )
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT CAST(t AS text) FROM spool_messages AS t"))
        return "\n".join(str(r[0]) for r in rows).encode()


def _stats(client: TestClient, who: TenantAccess, campaign_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/campaigns/{campaign_id}/stats", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_erasure_leaves_only_the_keyed_hash_and_keeps_statistics(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    tid = tenant_a.tenant.id
    news = make_list(client, tenant_a)
    ada = add_person(client, tenant_a, news, ADA, "Ada", last_name="Lovelace")
    add_person(client, tenant_a, news, GRACE, "Grace")
    # An import spells her address otherwise: still Ada, not a second person.
    imported = client.post(
        f"/v1/lists/{news}/imports",
        files={"file": ("people.csv", f"email\n{VARIANT}\n".encode(), "text/csv")},
        data={"legal_basis": "consent", "source": "customers"},
        headers=tenant_a.headers,
    )
    assert imported.status_code == 202, imported.text
    first = make_campaign(client, tenant_a, news)
    send(client, tenant_a, first)
    deliver_all(services)
    assert len(sandbox.store.inbox(ADA)) == 1
    # Ada clicks; a provider's reply once quoted her address.
    message = message_of(services, tenant_a, first, ada)
    click = f"/t/c/{click_token(services.secret_key, tid, message, 0)}"
    assert client.get(click, follow_redirects=False).status_code == 302
    services.tracker.flush()
    with transaction(services.storage.tenant(tid)) as session:
        record_events(
            session,
            [
                NewEvent(
                    type=EventType.DEFERRED,
                    occurred_at=services.clock.now(),
                    campaign_id=first,
                    message_id=message,
                    contact_id=ada,
                    detail={"code": 452, "reply": f"452 4.2.2 <{ADA.upper()}> mailbox full"},
                )
            ],
        )
    # A second campaign is waiting in the spool for both of them.
    second = make_campaign(client, tenant_a, news, "Summer")
    send(client, tenant_a, second)
    waiting = message_of(services, tenant_a, second, ada)
    before = _stats(client, tenant_a, first)
    assert before["counts"]["clicked"] == 1
    assert before["delivered"] == 2
    assert ADA.encode() in _tenant_bytes(services, tenant_a)
    assert ADA.encode() in _spool_bytes(services)

    request = new_request(client, tenant_a, "erasure", ada)
    done = fulfil(client, tenant_a, request["id"])

    assert done["status"] == "fulfilled"
    certificate = client.get(
        f"/v1/privacy/requests/{request['id']}/certificate", headers=tenant_a.headers
    ).json()
    assert certificate["contact_id"] == ada
    assert certificate["deleted"]["contacts"] == 1
    assert certificate["deleted"]["subscriptions"] == 1
    assert certificate["deleted"]["consent_records"] >= 1
    assert certificate["deleted"]["spool_messages"] == 1
    assert certificate["de_identified"]["events"] >= 4  # queued, delivered, clicked, deferred
    assert ADA not in str(certificate).lower()
    if not services.storage.is_postgres:
        assert certificate["storage"]["checkpointed"] is True
        assert certificate["storage"]["address_found_after"] is False
        assert certificate["storage"]["spool"]["address_found_after"] is False
    else:
        assert "contacts" in certificate["storage"]["tenant"]["vacuumed"]
        assert certificate["storage"]["spool"]["vacuumed"] == ["spool_messages"]
    # Statistics: the same figures, without the person.
    assert _stats(client, tenant_a, first) == before
    # The waiting message is gone from the spool; Grace's is still there.
    with services.storage.spool() as session:
        recipients = set(
            session.scalars(select(SpoolMessage.rcpt_to).where(SpoolMessage.tenant_id == tid))
        )
    assert recipients == {GRACE}
    with services.storage.tenant(tid)() as session:
        kept = session.scalars(select(Event).where(Event.message_id == message)).all()
        assert {e.type for e in kept} >= {EventType.DELIVERED, EventType.CLICKED}
        assert {e.contact_id for e in kept} == {None}
        assert all(ADA not in str(e.detail).lower() for e in kept)
        row = session.get(CampaignRecipient, waiting)
        assert row is not None
        assert (row.state, row.reason, row.contact_id) == (RecipientState.SKIPPED, "erased", None)
    # Storage: the address is nowhere, its keyed hash is there.
    if not services.storage.is_postgres:
        raw = _engine(services, tenant_a).raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        finally:
            raw.close()
    held = _tenant_bytes(services, tenant_a)
    spool = _spool_bytes(services)
    for stored in (held, spool):
        # In any case: the import's spelling too.
        assert ADA.encode() not in stored.lower()
        assert b"Lovelace" not in stored
    assert GRACE.encode() in spool
    assert tenant_address_hash(services.secret_key, tid, ADA).encode() in held
    assert GRACE.encode() in held


def test_an_erased_address_is_refused_by_the_api_and_imports(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    news = make_list(client, tenant_a)
    ada = add_person(client, tenant_a, news, ADA, "Ada")
    fulfil(client, tenant_a, new_request(client, tenant_a, "erasure", ada)["id"])

    again = client.post(
        "/v1/contacts",
        json={
            "email": ADA,
            "lists": [news],
            "consent": {"source": "api", "purpose_text": "News"},
        },
        headers=tenant_a.headers,
    )
    assert again.status_code == 409
    assert "erased" in again.json()["detail"]
    imported = client.post(
        f"/v1/lists/{news}/imports",
        files={"file": ("people.csv", f"email\n{ADA}\n".encode(), "text/csv")},
        data={"legal_basis": "consent", "source": "customers"},
        headers=tenant_a.headers,
    )
    assert imported.status_code == 202, imported.text
    progress = client.get(f"/v1/imports/{imported.json()['id']}", headers=tenant_a.headers)
    assert (progress.json()["imported"], progress.json()["rejected"]) == (0, 1)
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        assert session.execute(text("SELECT count(*) FROM contacts")).scalar() == 0


def test_erasing_twice_is_a_conflict_and_changes_nothing(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    news = make_list(client, tenant_a)
    ada = add_person(client, tenant_a, news, ADA, "Ada")
    first = new_request(client, tenant_a, "erasure", ada)
    second = new_request(client, tenant_a, "erasure", ada)
    fulfil(client, tenant_a, first["id"])

    again = client.post(f"/v1/privacy/requests/{second['id']}/fulfil", headers=tenant_a.headers)
    assert again.status_code == 409
    assert "erased" in again.json()["detail"]
    third = client.post(
        "/v1/privacy/requests",
        json={"type": "erasure", "contact_id": ada},
        headers=tenant_a.headers,
    )
    assert third.status_code == 409
    assert first["id"] in third.json()["detail"]
    # The first certificate is untouched, the second request still open.
    got = client.get(f"/v1/privacy/requests/{second['id']}", headers=tenant_a.headers).json()
    assert got["status"] == "open"
    assert got["certificate"] is None


def test_an_old_copy_left_in_free_space_is_vacuumed_away(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    if services.storage.is_postgres:
        pytest.skip("free pages and VACUUM of the file: SQLite only")
    ada = add_person(client, tenant_a, make_list(client, tenant_a), ADA, "Ada")
    # An earlier write freed a row quoting the address without secure delete:
    # its bytes stay in the page's free space.
    raw = _engine(services, tenant_a).raw_connection()
    try:
        db = raw.driver_connection
        assert db is not None
        db.execute("PRAGMA secure_delete=OFF")
        db.execute(
            "INSERT INTO audience_audit (action, principal, target, detail, occurred_at) "
            "VALUES ('note', 'operator', ?, '{}', '2026-01-01 00:00:00')",
            (ADA,),
        )
        db.execute("DELETE FROM audience_audit")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()

    done = fulfil(client, tenant_a, new_request(client, tenant_a, "erasure", ada)["id"])

    storage = done["certificate"]["storage"]
    assert (storage["vacuumed"], storage["address_found_after"]) == (True, False)
    assert ADA.encode() not in _tenant_bytes(services, tenant_a)


def test_secure_delete_is_set_on_every_database_whatever_the_build(
    services: Services, tenant_a: TenantAccess
) -> None:
    if services.storage.is_postgres:
        pytest.skip("a SQLite pragma")
    # A build whose default is off: the connection is opened with it off first.
    raw = sqlite3.connect(":memory:")
    raw.execute("PRAGMA secure_delete=OFF")
    _sqlite_pragmas(raw, None)
    assert raw.execute("PRAGMA secure_delete").fetchone() == (1,)
    raw.close()
    engines = [
        services.storage.control_engine,
        services.storage.spool_engine,
        _engine(services, tenant_a),
    ]
    for engine in engines:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
