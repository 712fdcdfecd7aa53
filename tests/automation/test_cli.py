"""`courriel workflows …`: create from YAML or JSON, activate, pause, archive, figures."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from courriel.cli.main import app
from courriel.config import Settings
from tests.support.databases import Templates, build_services
from tests.support.seeds.campaigns import UNSUBSCRIBE, seed_list
from tests.support.tenants import make_tenant

runner = CliRunner()
ENV = {"COURRIEL_RESOLVER": "sandbox"}
YAML = """\
from_email: news@acme.test
trigger: {{kind: list_subscribed, list_id: {list_id}}}
steps:
  - {{key: hello, kind: send, template_id: {template_id}, next: later}}
  - {{key: later, kind: wait, days: 2}}
"""


def test_workflow_commands(tmp_path: Path, templates: Templates) -> None:
    services = build_services(Settings(data_dir=tmp_path / "data", resolver="sandbox"), templates)
    tenant = make_tenant(services, "Acme")
    list_id = seed_list(services, tenant, ["a@x.test"])
    template, _ = services.templates.create(tenant.operator, "Hi", "Hi", "<p>Hi</p>" + UNSUBSCRIBE)
    services.close()
    where = ["--tenant", tenant.tenant.id, "--data-dir", str(tmp_path / "data")]

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["workflows", *args, *where], env=ENV)
        return result.exit_code, result.output

    good = tmp_path / "welcome.yaml"
    good.write_text(YAML.format(list_id=list_id, template_id=template.id))
    code, output = run("create", "--name", "Welcome", "--file", str(good))
    assert code == 0, output
    workflow = json.loads(output)["id"]
    assert json.loads(output)["status"] == "draft"
    assert json.loads(run("activate", workflow)[1])["status"] == "active"
    assert json.loads(run("pause", workflow)[1])["status"] == "paused"
    code, output = run("show", workflow)
    assert json.loads(output)["definition"]["steps"][1]["key"] == "later"
    code, output = run("stats", workflow)
    assert json.loads(output)["steps"]["hello"]["sent"] == 0
    assert [w["id"] for w in json.loads(run("list")[1])] == [workflow]
    assert json.loads(run("archive", workflow)[1])["status"] == "archived"
    code, output = run("activate", workflow)
    assert code == 2
    assert "cannot become active" in output

    cyclic = tmp_path / "cyclic.json"
    cyclic.write_text(
        json.dumps(
            {
                "trigger": {"kind": "custom_event", "name": "x"},
                "steps": [
                    {"key": "a", "kind": "wait", "days": 1, "next": "b"},
                    {"key": "b", "kind": "wait", "days": 1, "next": "a"},
                ],
            }
        )
    )
    code, output = run("create", "--name", "Loop", "--file", str(cyclic))
    assert code == 2
    assert "cycle" in output
    broken = tmp_path / "broken.yaml"
    broken.write_text("steps: [unclosed")
    code, output = run("create", "--name", "Broken", "--file", str(broken))
    assert code == 2
    assert "valid yaml" in " ".join(output.split())
    assert len(json.loads(run("list")[1])) == 1
