"""The command line: config, migrate, tenant create, the demo, the sandbox inbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from courriel.cli.main import app
from courriel.config import settings_markdown

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_configuration_reference_is_current() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text()
    assert documented == settings_markdown(), "run `make docs` to regenerate docs/configuration.md"


def test_config_masks_secrets(tmp_path: Path) -> None:
    env = {
        "COURRIEL_SECRET_KEY": "hunter2-very-secret",
        "COURRIEL_DATABASE_URL": "postgresql+psycopg://u:pw@db.example/x",
    }
    result = runner.invoke(app, ["config", "--data-dir", str(tmp_path)], env=env)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["secret_key"] == "********"
    assert shown["database_url"] == "********"
    assert "hunter2" not in result.output
    assert "pw@" not in result.output
    assert shown["data_dir"] == str(tmp_path)


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["config", "--data-dir", str(tmp_path)], env={"COURRIEL_HTTP_PORT": "http"}
    )
    assert result.exit_code != 0
    assert "http_port" in str(result.exception) or "http_port" in result.output


def test_tenant_create_then_migrate_is_idempotent(tmp_path: Path) -> None:
    created = runner.invoke(app, ["tenant", "create", "Acme", "--data-dir", str(tmp_path)])
    assert created.exit_code == 0, created.output
    assert "ck_" in created.output
    # The key's id too: the user name of HTTP Basic (Mailjet's clients) and SMTP AUTH.
    assert "API key id" in created.output
    assert "key_" in created.output
    assert len(list((tmp_path / "tenants").glob("ten_*.db"))) == 1
    for _ in range(2):
        migrated = runner.invoke(app, ["migrate", "--data-dir", str(tmp_path)])
        assert migrated.exit_code == 0, migrated.output
        assert "migrated 3 databases" in migrated.output
    listed = runner.invoke(app, ["tenant", "list", "--data-dir", str(tmp_path)])
    assert "Acme" in listed.output
    refused = runner.invoke(app, ["tenant", "create", "  ", "--data-dir", str(tmp_path)])
    assert refused.exit_code == 2
    assert "name" in refused.output


@pytest.mark.slow
def test_demo_json_delivers_to_every_recipient(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURRIEL_")}
    result = subprocess.run(
        [sys.executable, "-m", "courriel", "demo", "--json", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    assert stats["status"] == "sent"
    assert stats["recipients"] == 8
    assert stats["delivered"] == stats["recipients"]
    assert stats["bounced"] == stats["failed"] == 0

    inbox = runner.invoke(app, ["sandbox", "inbox", "ada@gmail.test", "--data-dir", str(data)])
    assert inbox.exit_code == 0, inbox.output
    assert "Welcome, Ada" in inbox.output

    again = subprocess.run(
        [sys.executable, "-m", "courriel", "demo", "--json", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert again.returncode == 2
    assert "empty data directory" in again.stderr
