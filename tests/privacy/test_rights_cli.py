"""`courriel privacy …`: record, list, export and fulfil requests on an embedded install."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from courriel.audience.models import ConsentSource
from courriel.audience.service import ConsentInput, ContactInput
from courriel.cli.main import app
from courriel.config import Settings
from courriel.core.models import AuditEntry
from courriel.services import Services
from tests.support.tenants import make_tenant


def test_requests_from_the_command_line(
    settings: Settings, services: Services, tmp_path: Path
) -> None:
    if settings.database_url:
        pytest.skip("the CLI here runs on the embedded (SQLite) installation")
    who = make_tenant(services, "CLI")
    lst = services.audience.create_list(who.operator, "News", "news", double_opt_in=False)
    services.audience.subscribe(
        who.operator,
        ContactInput("ada@gmail.test", first_name="Ada"),
        [lst.id],
        ConsentInput(ConsentSource.API, "News"),
    )
    runner = CliRunner()
    base = ["--tenant", who.tenant.id, "--data-dir", str(settings.data_dir)]

    created = runner.invoke(
        app, ["privacy", "create", "access", "--email", "ada@gmail.test", *base]
    )
    assert created.exit_code == 0, created.output
    access = json.loads(created.output)
    assert (access["type"], access["status"]) == ("access", "open")
    report = tmp_path / "ada.html"
    exported = runner.invoke(
        app, ["privacy", "export", access["id"], "--format", "html", "--output", str(report), *base]
    )
    assert exported.exit_code == 2
    assert "--reason" in " ".join(exported.output.split())
    assert not report.exists()
    exported = runner.invoke(
        app,
        [
            *("privacy", "export", access["id"], "--format", "html", "--output", str(report)),
            *("--reason", "the person asked by phone, ticket 4711", *base),
        ],
    )
    assert exported.exit_code == 0, exported.output
    with services.storage.tenant(who.tenant.id)() as session:
        exports = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "privacy.data.exported")
        ).all()
    assert [json.loads(e.detail)["reason"] for e in exports] == [
        "the person asked by phone, ticket 4711"
    ]
    assert "ada@gmail.test" in report.read_text()
    listed = runner.invoke(app, ["privacy", "list", "--json", *base])
    assert [json.loads(line)["id"] for line in listed.output.splitlines()] == [access["id"]]
    assert runner.invoke(app, ["privacy", "list", *base]).exit_code == 0

    bad = runner.invoke(
        app,
        [
            "privacy",
            "create",
            "rectification",
            "--contact",
            access["contact_id"],
            "--change",
            "email=nope",
            *base,
        ],
    )
    assert bad.exit_code == 2
    assert "changes.email" in bad.output
    erasure = json.loads(
        runner.invoke(
            app, ["privacy", "create", "erasure", "--contact", access["contact_id"], *base]
        ).output
    )
    done = runner.invoke(app, ["privacy", "fulfil", erasure["id"], *base])
    assert done.exit_code == 0, done.output
    certificate = json.loads(done.output)
    assert certificate["deleted"]["contacts"] == 1
    assert "ada@gmail.test" not in done.output
    again = runner.invoke(app, ["privacy", "fulfil", erasure["id"], *base])
    assert again.exit_code == 2
    assert "fulfilled" in again.output
