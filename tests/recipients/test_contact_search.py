"""Finding contacts by address (exact, prefix), name and property, on the API and the CLI."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from courriel.cli.main import app
from courriel.config import Settings
from tests.support.tenants import TenantAccess

CONSENT = {"source": "api", "purpose_text": "Yes, send me the newsletter"}
PEOPLE = [
    ("Ada", "Lovelace", "ada.lovelace@gmail.test", "Paris", 12),
    ("Grace", "Hopper", "grace@yahoo.test", "Lyon", 7),
    ("Adam", "Smith", "ada_m@example.test", "Paris", 7),
    ("Zoë", "Lovelace", "zoe@example.test", "Nantes", 3),
]


def _people(client: TestClient, access: TenantAccess) -> dict[str, str]:
    h = access.headers
    list_id = client.post(
        "/v1/lists", json={"name": "News", "double_opt_in": False}, headers=h
    ).json()["id"]
    for name, kind in (("city", "text"), ("points", "number")):
        assert client.post(
            "/v1/properties", json={"name": name, "kind": kind}, headers=h
        ).is_success
    ids = {}
    for first, last, email, city, points in PEOPLE:
        response = client.post(
            "/v1/contacts",
            json={
                "email": email,
                "first_name": first,
                "last_name": last,
                "properties": {"city": city, "points": points},
                "lists": [list_id],
                "consent": CONSENT,
            },
            headers=h,
        )
        assert response.status_code == 201, response.text
        ids[email] = response.json()["contact"]["id"]
    return ids


def _found(client: TestClient, access: TenantAccess, **params: str) -> list[str]:
    response = client.get("/v1/contacts", params=params, headers=access.headers)
    assert response.status_code == 200, response.text
    return sorted(c["email"] for c in response.json()["data"])


def test_search_by_address_name_and_property(
    client: TestClient, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    _people(client, tenant_a)
    assert _found(client, tenant_a, email="GRACE@yahoo.test") == ["grace@yahoo.test"]
    assert _found(client, tenant_a, email="grace@yahoo") == []
    assert _found(client, tenant_a, email_prefix="ada") == [
        "ada.lovelace@gmail.test",
        "ada_m@example.test",
    ]
    # `_` and `%` are themselves, not wildcards.
    assert _found(client, tenant_a, email_prefix="ada_") == ["ada_m@example.test"]
    assert _found(client, tenant_a, email_prefix="%") == []
    assert _found(client, tenant_a, name="lovelace") == [
        "ada.lovelace@gmail.test",
        "zoe@example.test",
    ]
    assert _found(client, tenant_a, name="Ada Love") == ["ada.lovelace@gmail.test"]
    assert _found(client, tenant_a, property="city:Paris") == [
        "ada.lovelace@gmail.test",
        "ada_m@example.test",
    ]
    assert _found(client, tenant_a, property="points:7") == [
        "ada_m@example.test",
        "grace@yahoo.test",
    ]
    assert _found(client, tenant_a, property="city:Paris", name="smith") == ["ada_m@example.test"]
    # Contacts come out as everywhere else, in the contact output.
    one = client.get(
        "/v1/contacts", params={"email": "grace@yahoo.test"}, headers=tenant_a.headers
    ).json()["data"][0]
    assert one["first_name"] == "Grace"
    assert set(one) >= {"id", "email", "first_name", "last_name"}
    # Another tenant finds none of them.
    assert _found(client, tenant_b, email_prefix="a") == []
    assert _found(client, tenant_b, name="Ada") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"property": "city"}, "property"),
        ({"property": "shoe:42"}, "property"),
        ({"property": "points:many"}, "property"),
        ({"name": "  "}, "name"),
    ],
)
def test_bad_searches_name_the_problem(
    client: TestClient, tenant_a: TenantAccess, params: dict[str, str], field: str
) -> None:
    _people(client, tenant_a)
    response = client.get("/v1/contacts", params=params, headers=tenant_a.headers)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == field


def test_search_from_the_command_line(
    client: TestClient, settings: Settings, tenant_a: TenantAccess
) -> None:
    if settings.database_url:
        pytest.skip("the CLI here runs on the embedded (SQLite) installation")
    _people(client, tenant_a)
    base = ["--tenant", tenant_a.tenant.id, "--data-dir", str(settings.data_dir)]
    found = CliRunner().invoke(
        app, ["contacts", "search", "--name", "lovelace", "--property", "city:Nantes", *base]
    )
    assert found.exit_code == 0, found.output
    rows = [json.loads(line) for line in found.output.splitlines()]
    assert [r["email"] for r in rows] == ["zoe@example.test"]
    assert rows[0]["first_name"] == "Zoë"
    wrong = CliRunner().invoke(app, ["contacts", "search", "--property", "nope", *base])
    assert wrong.exit_code == 2
    assert "property" in wrong.output
