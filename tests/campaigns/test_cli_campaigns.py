"""`courriel campaigns …`: the lifecycle, checklist, policy and domains from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from courriel.cli.main import app
from courriel.config import Settings
from tests.support.databases import Templates, build_services
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import make_tenant

runner = CliRunner()
ENV = {"COURRIEL_RESOLVER": "sandbox"}


def test_campaign_commands(tmp_path: Path, templates: Templates) -> None:
    services = build_services(Settings(data_dir=tmp_path, resolver="sandbox"), templates)
    tenant = make_tenant(services, "Acme")
    emails = [f"p{i}@x.test" for i in range(150)]
    campaign = make_campaign(services, tenant, [seed_list(services, tenant, emails)])
    services.close()
    where = ["--tenant", tenant.tenant.id, "--data-dir", str(tmp_path)]

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["campaigns", *args, *where], env=ENV)
        return result.exit_code, result.output

    code, output = run("check", campaign)
    assert code == 0, output
    assert json.loads(output)["sendable"] is True
    code, output = run("send", campaign)
    assert (code, json.loads(output)["status"]) == (0, "sending"), output
    code, output = run("pause", campaign)
    assert json.loads(output)["status"] == "paused"
    code, output = run("progress", campaign)
    assert json.loads(output)["pending"] == 100
    assert json.loads(run("resume", campaign)[1])["status"] == "sending"
    assert json.loads(run("cancel", campaign)[1])["status"] == "cancelled"
    code, output = run("pause", campaign)
    assert code == 2
    assert "cannot become paused" in output
    code, output = run("schedule", campaign, "--at", "yesterday")
    assert code == 2
    assert "--at" in output

    code, output = run("policy", "show")
    assert json.loads(output)["state"] == "ok"
    code, output = run("policy", "lift", "--reason", "test")
    assert code == 2
    assert "nothing to lift" in output
    code, output = run("domains", "add", "gmail.com")
    assert code == 2
    assert "p=reject" in output
    code, output = run("domains", "add", "shop.example")
    assert code == 0, output
    assert {r["purpose"] for r in json.loads(output)} == {"ownership", "spf", "dkim", "dmarc"}
