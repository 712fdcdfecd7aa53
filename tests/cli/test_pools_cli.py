"""`courriel pools …` and `courriel warmup …` on a real data directory: pools,
addresses, assignments and plans, and refusals that exit 2 naming the problem."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from courriel.cli.main import app

runner = CliRunner()


def run(tmp_path: Path, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, [*args, "--data-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == code, result.output
    return result.output


def test_pools_and_warmup_from_the_command_line(tmp_path: Path) -> None:
    created = run(tmp_path, "tenant", "create", "Acme")
    tenant = re.search(r"ten_[A-Za-z0-9]+", created)
    assert tenant is not None

    run(tmp_path, "pools", "create", "bulk", "--description", "marketing")
    run(tmp_path, "pools", "add-address", "bulk", "127.0.0.2", "--helo", "mta2.example.com")
    run(tmp_path, "pools", "assign", "bulk", "--tenant", tenant.group(), "--class", "marketing")
    shown = run(tmp_path, "pools", "list")
    assert "address 127.0.0.2  EHLO mta2.example.com" in shown
    assert f"tenant {tenant.group()} (class:marketing)" in shown
    assert run(tmp_path, "pools", "addresses").split() == ["127.0.0.2"]

    started = run(tmp_path, "warmup", "start", "bulk", "google", "--schedule", "10,20,40")
    assert "day 1 of 3" in started
    assert "cap 10" in started
    (status,) = [json.loads(line) for line in [run(tmp_path, "warmup", "status", "--json")]]
    assert (status["day"], status["sent_today"], status["paused"]) == (1, 0, False)

    # Refusals exit 2, say why, and change nothing.
    before = run(tmp_path, "pools", "list")
    refused = run(tmp_path, "warmup", "start", "bulk", "google", "--schedule", "10,x", code=2)
    assert "comma-separated list of caps" in refused
    refused = run(tmp_path, "pools", "add-address", "bulk", "192.0.2.9", "--helo", "m.example.com",
                  code=2)  # fmt: skip
    assert "not an address of this host" in refused
    refused = run(tmp_path, "pools", "assign", "nope", "--tenant", tenant.group(), code=2)
    assert "unknown pool 'nope'" in refused
    refused = run(tmp_path, "pools", "delete", "bulk", code=2)
    assert "remove its assignments first" in refused
    assert run(tmp_path, "pools", "list") == before

    run(tmp_path, "pools", "unassign", "--tenant", tenant.group(), "--class", "marketing")
    run(tmp_path, "warmup", "stop", "bulk", "google")
    run(tmp_path, "pools", "delete", "bulk")
    assert run(tmp_path, "pools", "list").strip() == ""
