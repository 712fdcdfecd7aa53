"""The audit trail: recorded actions, hash-chain verification, queries, exports, isolation."""

from __future__ import annotations

import csv
import io
import json
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from courriel.cli.main import app
from courriel.config import Settings
from courriel.core.audit import entry_hash
from courriel.core.db import transaction
from courriel.core.models import AuditEntry
from courriel.services import Services
from tests.support.tenants import TenantAccess


def _list(client: TestClient, who: TenantAccess) -> str:
    response = client.post(
        "/v1/lists",
        json={"name": "News", "purpose": "Monthly news", "double_opt_in": False},
        headers=who.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _subscribe(client: TestClient, who: TenantAccess, list_id: str, email: str) -> str:
    response = client.post(
        "/v1/contacts",
        json={
            "email": email,
            "lists": [list_id],
            "consent": {"source": "api", "purpose_text": "Monthly news"},
        },
        headers=who.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["contact"]["id"])


def _entries(client: TestClient, who: TenantAccess, **params: str) -> list[dict[str, object]]:
    response = client.get("/v1/audit", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, object]] = response.json()["data"]
    return data


def _sql(services: Services, who: TenantAccess, statement: str, **params: object) -> None:
    # Tampering as someone with database access would: plain SQL, no service.
    with transaction(services.storage.tenant(who.tenant.id)) as session:
        session.execute(text(statement), params)


def _verify(client: TestClient, who: TenantAccess) -> dict[str, object]:
    response = client.get("/v1/audit/verify", headers=who.headers)
    assert response.status_code == 200, response.text
    found: dict[str, object] = response.json()
    return found


def test_actions_are_recorded_with_who_what_and_where(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    list_id = _list(client, tenant_a)
    contact = _subscribe(client, tenant_a, list_id, "ana@example.com")
    gone = client.delete(f"/v1/lists/{list_id}/contacts/{contact}", headers=tenant_a.headers)
    assert gone.status_code == 200
    added = client.post(
        "/v1/suppressions", json={"address": "spam@example.com"}, headers=tenant_a.headers
    )
    assert added.status_code == 201
    lifted = client.delete(f"/v1/suppressions/{added.json()['id']}", headers=tenant_a.headers)
    assert lifted.status_code == 204
    exported = client.get(f"/v1/lists/{list_id}/export", headers=tenant_a.headers)
    assert exported.status_code == 200
    entries = _entries(client, tenant_a)
    actions = [e["action"] for e in entries]
    assert actions == [
        "api_key.created",  # the test key, made by the operator
        "consent.recorded",
        "consent.withdrawn",
        "suppression.added",
        "suppression.lifted",
        "contacts.exported",
    ]
    assert [e["seq"] for e in entries] == list(range(1, 7))
    assert entries[0]["actor"] == "operator"
    assert str(entries[1]["actor"]).startswith("key:key_")
    assert entries[1]["subject"] == f"contact:{contact}"
    assert entries[2]["detail"] == {"list_id": list_id, "source": "api"}
    # Every action taken over HTTP says where it came from; the test key was
    # made outside any request.
    assert entries[0]["source_ip"] is None
    assert all(e["source_ip"] == "testclient" for e in entries[1:])
    # A suppression is named by its id; the address itself never enters the trail.
    assert "spam@example.com" not in json.dumps(entries)
    assert _verify(client, tenant_a) == {
        "ok": True,
        "entries": 6,
        "first_broken_seq": None,
        "problem": None,
    }


def test_views_and_imports_are_recorded(
    client: TestClient, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    list_id = _list(client, tenant_a)
    contact = _subscribe(client, tenant_a, list_id, "ana@example.com")
    for path in ("", "/consent", "/consent/proof", "/consent/proof.html"):
        shown = client.get(f"/v1/contacts/{contact}{path}", headers=tenant_a.headers)
        assert shown.status_code == 200
    # Another tenant asking is a 404 and leaves nothing in either trail.
    assert client.get(f"/v1/contacts/{contact}", headers=tenant_b.headers).status_code == 404
    started = client.post(
        f"/v1/lists/{list_id}/imports",
        files={"file": ("people.csv", b"email\nbo@example.com\nbad@@\n", "text/csv")},
        data={"legal_basis": "consent", "source": "customers"},
        headers=tenant_a.headers,
    )
    assert started.status_code == 202, started.text
    entries = _entries(client, tenant_a)
    assert [e["action"] for e in entries][2:] == [
        "contact.viewed",
        "consent.viewed",
        "consent.proof_viewed",
        "consent.proof_viewed",
        "contacts.import_started",
        "contacts.imported",
    ]
    assert all(e["source_ip"] == "testclient" for e in entries[2:6])
    assert entries[-1]["detail"]["imported"] == 1  # type: ignore[index]
    assert entries[-1]["detail"]["rejected"] == 1  # type: ignore[index]
    assert [e["action"] for e in _entries(client, tenant_b)] == ["api_key.created"]


def test_no_key_or_secret_is_written(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    created = client.post(
        "/v1/api-keys",
        json={"name": "CI", "capabilities": ["lists:read"]},
        headers=tenant_a.headers,
    )
    assert created.status_code == 201
    secret = created.json()["key"]
    key_id = created.json()["id"]
    assert client.delete(f"/v1/api-keys/{key_id}", headers=tenant_a.headers).status_code == 204
    services.audit.record(
        tenant_a.tenant.id,
        tenant_a.operator,
        "test.careless",
        None,
        {"token": "tok-123", "nested": {"password": "hunter2"}, "echo": secret},
    )
    entries = _entries(client, tenant_a)
    assert [e["action"] for e in entries][-3:] == [
        "api_key.created",
        "api_key.revoked",
        "test.careless",
    ]
    assert entries[-3]["subject"] == f"key:{key_id}"
    assert entries[-3]["detail"] == {"name": "CI", "capabilities": ["lists:read"]}
    assert entries[-1]["detail"] == {
        "echo": "[redacted]",
        "nested": {"password": "[redacted]"},
        "token": "[redacted]",
    }
    # Everything stored, byte for byte: no secret, no prefix of it, no keyed hash of it.
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        stored = repr(list(session.execute(text("SELECT * FROM audit_entries"))))
    for leaked in (secret, secret[:10], services.api_keys._hash(secret), "tok-123", "hunter2"):
        assert leaked not in stored


def test_verification_detects_an_edited_entry(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    for n in range(3):
        services.audit.record(tenant_a.tenant.id, "operator", "test.step", None, {"n": n})
    assert _verify(client, tenant_a)["ok"] is True
    _sql(services, tenant_a, "UPDATE audit_entries SET detail = :d WHERE seq = 3", d='{"n":99}')
    found = _verify(client, tenant_a)
    assert found["ok"] is False
    assert found["first_broken_seq"] == 3
    assert found["problem"] == "entry 3 was altered"


def test_verification_detects_an_edit_whose_hash_was_recomputed(
    services: Services, tenant_a: TenantAccess
) -> None:
    for n in range(4):
        services.audit.record(tenant_a.tenant.id, "operator", "test.step", None, {"n": n})
    # A careful forger fixes the edited entry's own hash. Without the
    # installation secret the forged hash is not the entry's HMAC; with it
    # (an insider), its successor still points at the old one.
    _sql(services, tenant_a, "UPDATE audit_entries SET actor = 'someone-else' WHERE seq = 2")
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        edited = session.get(AuditEntry, 2)
        assert edited is not None
        forged = entry_hash(edited)
        keyed = entry_hash(edited, session.info["audit_key"])
    _sql(services, tenant_a, "UPDATE audit_entries SET hash = :h WHERE seq = 2", h=forged)
    found = services.audit.verify(tenant_a.operator)
    assert (found.ok, found.first_broken_seq) == (False, 2)
    assert found.problem == "entry 2 was altered"
    _sql(services, tenant_a, "UPDATE audit_entries SET hash = :h WHERE seq = 2", h=keyed)
    found = services.audit.verify(tenant_a.operator)
    assert (found.ok, found.first_broken_seq) == (False, 3)
    assert found.problem == "entry 3 does not follow entry 2"


def test_verification_detects_a_deleted_entry_and_a_deleted_tail(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    for n in range(5):
        services.audit.record(tenant_a.tenant.id, "operator", "test.step", None, {"n": n})
    _sql(services, tenant_a, "DELETE FROM audit_entries WHERE seq = 6")  # the last one
    found = _verify(client, tenant_a)
    assert found["ok"] is False
    assert found["first_broken_seq"] == 6
    assert found["problem"] == "entries 6 to 6 are missing"
    _sql(services, tenant_a, "DELETE FROM audit_entries WHERE seq = 3")
    found = _verify(client, tenant_a)
    assert (found["first_broken_seq"], found["problem"]) == (3, "entry 3 is missing")
    assert found["entries"] == 2


def test_cli_verify_reports_the_first_broken_link(
    settings: Settings, services: Services, tenant_a: TenantAccess
) -> None:
    services.audit.record(tenant_a.tenant.id, "operator", "test.step", None, {})
    env = {"COURRIEL_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env |= {
            "COURRIEL_DATABASE_URL": settings.database_url,
            "COURRIEL_DATABASE_PREFIX": settings.database_prefix,
        }
    runner = CliRunner()
    args = ["audit", "verify", "--tenant", tenant_a.tenant.id]
    intact = runner.invoke(app, args, env=env)
    assert intact.exit_code == 0, intact.output
    assert "audit trail intact: 2 entries" in intact.output
    _sql(services, tenant_a, "UPDATE audit_entries SET action = 'test.other' WHERE seq = 2")
    broken = runner.invoke(app, args, env=env)
    assert broken.exit_code == 1
    assert "broken at entry 2: entry 2 was altered" in " ".join(broken.output.split())
    listed = runner.invoke(
        app, ["audit", "list", "--tenant", tenant_a.tenant.id, "--action", "test.other"], env=env
    )
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout.splitlines()[0])["seq"] == 2
    wrong = runner.invoke(
        app, ["audit", "list", "--tenant", tenant_a.tenant.id, "--since", "yesterday"], env=env
    )
    assert wrong.exit_code == 2
    assert "--since" in wrong.output


def test_filters_pagination_and_bad_filters(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    for n in range(5):
        services.audit.record(tenant_a.tenant.id, f"key:k{n % 2}", "test.step", None, {"n": n})
    assert len(_entries(client, tenant_a, actor="key:k1")) == 2
    assert len(_entries(client, tenant_a, action="test.step")) == 5
    first = _entries(client, tenant_a)[1]
    assert len(_entries(client, tenant_a, since=str(first["occurred_at"]))) >= 5
    assert _entries(client, tenant_a, until="2000-01-01T00:00:00Z") == []
    seen: list[object] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/audit", params=params, headers=tenant_a.headers).json()
        seen += [e["seq"] for e in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [1, 2, 3, 4, 5, 6]
    for params, field in (
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"since": "2026-02-01T00:00Z", "until": "2026-01-01T00:00Z"}, "until"),
        ({"cursor": "x' OR 1=1"}, "cursor"),
        ({"limit": "0"}, "limit"),
    ):
        response = client.get("/v1/audit", params=params, headers=tenant_a.headers)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["errors"][0]["field"] == field
    assert services.audit.verify(tenant_a.operator).entries == 6  # nothing lost, nothing added


def test_exports_as_json_lines_and_csv_are_recorded(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    services.audit.record(tenant_a.tenant.id, "operator", "test.step", "=cmd()", {"n": 1})
    lines = client.get("/v1/audit/export", headers=tenant_a.headers)
    assert lines.status_code == 200
    assert lines.headers["content-type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in lines.text.splitlines()]
    assert [r["action"] for r in rows] == ["api_key.created", "test.step"]
    assert rows[1]["prev_hash"] == rows[0]["hash"]
    table = client.get(
        "/v1/audit/export",
        params={"format": "csv", "action": "test.step"},
        headers=tenant_a.headers,
    )
    parsed = list(csv.DictReader(io.StringIO(table.text)))
    assert [r["subject"] for r in parsed] == ["'=cmd()"]  # no spreadsheet formula
    recorded = _entries(client, tenant_a, action="audit.exported")
    assert [e["detail"]["format"] for e in recorded] == ["jsonl", "csv"]  # type: ignore[index]
    assert services.audit.verify(tenant_a.operator).ok


def test_tenants_see_only_their_own_trail(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    services.audit.record(tenant_a.tenant.id, "operator", "test.secret-of-a", None, {})
    assert [e["action"] for e in _entries(client, tenant_b)] == ["api_key.created"]
    assert _entries(client, tenant_b, action="test.secret-of-a") == []
    exported = client.get("/v1/audit/export", headers=tenant_b.headers)
    assert "secret-of-a" not in exported.text
    assert _verify(client, tenant_b)["entries"] == 2  # its key and its own export
    assert client.get("/v1/audit").status_code == 401


def test_concurrent_writers_never_fork_the_chain(
    services: Services, tenant_a: TenantAccess
) -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(15):
                services.audit.record(
                    tenant_a.tenant.id, f"worker:{worker}", "test.step", None, {"n": n}
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    found = services.audit.verify(tenant_a.operator)
    assert (found.ok, found.entries) == (True, 61)


@pytest.mark.parametrize("limit", ["0", "501", "-1"])
def test_page_size_is_bounded(client: TestClient, tenant_a: TenantAccess, limit: str) -> None:
    response = client.get("/v1/audit", params={"limit": limit}, headers=tenant_a.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "limit"
