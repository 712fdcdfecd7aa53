"""`courriel workflow-templates …`: list the shipped templates, make a draft from one,
and a wrong list refused with its field and nothing made."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from courriel.cli.main import app
from courriel.config import Settings
from tests.support.databases import Templates, build_services
from tests.support.seeds.campaigns import seed_list
from tests.support.tenants import make_tenant

runner = CliRunner()
ENV = {"COURRIEL_RESOLVER": "sandbox"}


def test_workflow_template_commands(tmp_path: Path, templates: Templates) -> None:
    data = tmp_path / "data"
    services = build_services(Settings(data_dir=data, resolver="sandbox"), templates)
    tenant = make_tenant(services, "Acme")
    list_id = seed_list(services, tenant, ["a@x.test"])
    services.close()
    where = ["--tenant", tenant.tenant.id, "--data-dir", str(data)]

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["workflow-templates", *args, *where], env=ENV)
        return result.exit_code, result.output

    code, output = run("list")
    assert code == 0, output
    assert [t["key"] for t in json.loads(output)] == ["welcome", "re-engagement", "re-permission"]
    code, output = run("show", "re-permission")
    assert json.loads(output)["definition"]["trigger"]["name"] == "consent_renewal_due"

    code, output = run("create", "re-permission", "--list", "lst_nope", "--from", "n@acme.test")
    assert code == 2
    assert "list_id" in output
    code, output = run("create", "re-permission", "--list", list_id, "--from", "n@acme.test")
    assert code == 0, output
    made = json.loads(output)
    assert made["status"] == "draft"
    assert made["definition"]["consent_list_id"] == list_id
    listed = runner.invoke(app, ["workflows", "list", *where], env=ENV).output
    assert [w["id"] for w in json.loads(listed)] == [made["id"]]
