"""`courriel contacts import/export` and `courriel segments count` on an embedded install."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from courriel.cli.main import app
from courriel.config import Settings
from courriel.services import Services
from tests.support.tenants import make_tenant


def test_import_export_and_count_from_the_command_line(
    settings: Settings, services: Services, tmp_path: Path
) -> None:
    if settings.database_url:
        pytest.skip("the CLI here runs on the embedded (SQLite) installation")
    who = make_tenant(services, "CLI")
    lst = services.audience.create_list(who.operator, "News", "news", double_opt_in=False)
    data_dir = str(settings.data_dir)
    people = tmp_path / "people.csv"
    people.write_text("email,first_name\na@example.com,=cmd\nb@example.com,B\nbad@@x,C\n")
    runner = CliRunner()
    base = ["--tenant", who.tenant.id, "--data-dir", data_dir]
    done = runner.invoke(app, ["contacts", "import", str(people), "--list", lst.id, *base])
    assert done.exit_code == 0, done.output
    assert "3 rows read, 2 imported, 0 unchanged, 1 rejected" in " ".join(done.output.split())
    refused = runner.invoke(
        app,
        ["contacts", "import", str(people), "--list", lst.id, "--source", "rented-list", *base],
    )
    assert refused.exit_code == 2
    assert "purchased or rented" in " ".join(refused.output.split())
    # Installation staff read personal data only with a reason, which is audited.
    refused = runner.invoke(app, ["contacts", "export", "--list", lst.id, *base])
    assert refused.exit_code == 2
    assert "--reason" in " ".join(refused.output.split())
    exported = runner.invoke(
        app, ["contacts", "export", "--list", lst.id, "--reason", "ticket 4711", *base]
    )
    assert exported.exit_code == 0
    assert "a@example.com,'=cmd" in exported.output
    counted = runner.invoke(app, ["segments", "count", 'email.domain = "example.com"', *base])
    assert json.loads(counted.output) == {"count": 2}
    wrong = runner.invoke(app, ["segments", "count", "' OR 1=1 --", *base])
    assert wrong.exit_code == 2
    assert "position 0" in wrong.output
