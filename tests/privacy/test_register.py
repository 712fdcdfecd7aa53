"""The processing register (GDPR Art. 30) and the retention CLI."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from courriel.cli.main import app
from courriel.config import Settings
from courriel.services import Services
from tests.support.tenants import TenantAccess

RULES = {
    "inactive_months": 18,
    "consent_months": 24,
    "confirm_days": 21,
    "inactive_outcome": "anonymize",
    "legal_basis": "consent",
    "data_categories": ["email address", "purchase history"],
    "recipients": ["Courriel (email delivery)", '=HYPERLINK("http://x")'],
    "notes": "<script>alert(1)</script>",
}


def _list(client: TestClient, who: TenantAccess, name: str, purpose: str) -> str:
    created = client.post("/v1/lists", json={"name": name, "purpose": purpose}, headers=who.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_register_lists_every_list_in_three_formats(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    shop = _list(client, tenant_a, "Shop <news>", "Offers & new products")
    _list(client, tenant_a, "Blog", "New articles")
    put = client.put(f"/v1/privacy/lists/{shop}/governance", json=RULES, headers=tenant_a.headers)
    assert put.status_code == 200, put.text
    document = client.get("/v1/privacy/register", headers=tenant_a.headers).json()
    assert document["controller"] == "Tenant A"
    by_name = {a["list_name"]: a for a in document["activities"]}
    assert set(by_name) == {"Shop <news>", "Blog"}
    shop_entry = by_name["Shop <news>"]
    assert shop_entry["purpose"] == "Offers & new products"
    assert shop_entry["recipients"][0] == "Courriel (email delivery)"
    assert "inactive 18 months" in shop_entry["retention"]
    assert "anonymized after 21 days" in shop_entry["retention"]
    assert "consent older than 24 months" in shop_entry["retention"]
    assert by_name["Blog"]["legal_basis"] == "consent"
    assert "until the person unsubscribes" in by_name["Blog"]["retention"]

    table = client.get("/v1/privacy/register", params={"format": "csv"}, headers=tenant_a.headers)
    assert table.status_code == 200
    rows = list(csv.DictReader(io.StringIO(table.text)))
    shop_row = next(r for r in rows if r["list_id"] == shop)
    assert shop_row["data_categories"] == "email address; purchase history"
    assert "=HYPERLINK" in shop_row["recipients"]
    assert not shop_row["recipients"].startswith("=")

    page = client.get("/v1/privacy/register", params={"format": "html"}, headers=tenant_a.headers)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "Shop &lt;news&gt;" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    wrong = client.get("/v1/privacy/register", params={"format": "pdf"}, headers=tenant_a.headers)
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "format"


def test_register_is_per_tenant(
    client: TestClient, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    _list(client, tenant_a, "Secret list of A", "A's purpose")
    theirs = client.get("/v1/privacy/register", headers=tenant_b.headers).json()
    assert theirs["controller"] == "Tenant B"
    assert theirs["activities"] == []
    for fmt in ("csv", "html"):
        text = client.get(
            "/v1/privacy/register", params={"format": fmt}, headers=tenant_b.headers
        ).text
        assert "Secret list of A" not in text
    assert client.get("/v1/privacy/register").status_code == 401


def test_governance_change_is_audited(client: TestClient, tenant_a: TenantAccess) -> None:
    shop = _list(client, tenant_a, "Shop", "Offers")
    client.put(f"/v1/privacy/lists/{shop}/governance", json=RULES, headers=tenant_a.headers)
    entries = client.get(
        "/v1/audit", params={"action": "list.governance_changed"}, headers=tenant_a.headers
    ).json()["data"]
    assert len(entries) == 1
    assert entries[0]["subject"] == f"list:{shop}"
    assert entries[0]["detail"]["inactive_months"] == 18


def test_retention_and_register_from_the_command_line(
    settings: Settings, services: Services, tenant_a: TenantAccess
) -> None:
    lst = services.audience.create_list(tenant_a.operator, "News", "news", double_opt_in=False)
    env = {"COURRIEL_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env |= {
            "COURRIEL_DATABASE_URL": settings.database_url,
            "COURRIEL_DATABASE_PREFIX": settings.database_prefix,
        }
    runner = CliRunner()
    base = ["--tenant", tenant_a.tenant.id]
    done = runner.invoke(
        app,
        [
            "retention",
            "set",
            *base,
            "--list",
            lst.id,
            "--consent-months",
            "12",
            "--recipient",
            "Courriel",
        ],
        env=env,
    )
    assert done.exit_code == 0, done.output
    assert "consent 12 months" in done.output
    bad = runner.invoke(
        app, ["retention", "set", *base, "--list", lst.id, "--inactive-months", "0"], env=env
    )
    assert bad.exit_code == 2
    assert "inactive_months" in bad.output
    unknown = runner.invoke(
        app, ["retention", "set", *base, "--list", "lst_none", "--inactive-months", "3"], env=env
    )
    assert unknown.exit_code == 2
    assert "no list 'lst_none'" in unknown.output
    report = runner.invoke(app, ["retention", "report", *base], env=env)
    assert report.exit_code == 0, report.output
    assert "0 contacts would be affected" in report.output
    ran = runner.invoke(app, ["retention", "run", *base], env=env)
    assert ran.exit_code == 0
    assert "0 asked again" in ran.output
    exported = runner.invoke(app, ["register", "export", *base], env=env)
    assert exported.exit_code == 0, exported.output
    document = json.loads(exported.stdout)
    assert document["activities"][0]["recipients"] == ["Courriel"]
    html_out = runner.invoke(app, ["register", "export", *base, "--format", "html"], env=env)
    assert "<table>" in html_out.stdout
