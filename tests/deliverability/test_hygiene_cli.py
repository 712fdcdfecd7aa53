"""`courriel hygiene …`: the disposable list replaced, a list's role rule, one address."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from courriel.audience.hygiene.disposable import installed_path
from courriel.audience.models import RoleAddresses
from courriel.cli.main import app
from courriel.config import Settings
from courriel.services import Services
from tests.deliverability.zone import write_hygiene_zone
from tests.support.tenants import make_tenant


def _said(output: str) -> str:
    return " ".join(output.split())


@pytest.fixture
def list_server(tmp_path: Path) -> Iterator[str]:
    """A web server on loopback serving `lists/`: the operator's own copy of a list."""
    root = tmp_path / "lists"
    root.mkdir()
    (root / "disposable.txt").write_text("# ours\nthrowaway.example.org\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_the_disposable_list_is_replaced_from_a_file_or_url_and_bad_lists_change_nothing(
    settings: Settings, services: Services, tmp_path: Path, list_server: str
) -> None:
    if settings.database_url:
        pytest.skip("the CLI here runs on the embedded (SQLite) installation")
    write_hygiene_zone(settings)
    base = ["--data-dir", str(settings.data_dir)]
    runner = CliRunner()
    # The shipped list knows yopmail.com; not this new service.
    assert services.hygiene.refusal("zoe@fresh-throwaway.test", RoleAddresses.FLAG) is None
    fresh = tmp_path / "fresh.txt"
    fresh.write_text("# updated list\nfresh-throwaway.test\nyopmail.com\n\n")
    done = runner.invoke(app, ["hygiene", "update-disposable", str(fresh), *base])
    assert done.exit_code == 0, done.output
    assert "2 disposable domains" in _said(done.output)
    checked = runner.invoke(app, ["hygiene", "check", "zoe@fresh-throwaway.test", *base])
    assert checked.exit_code == 1
    assert "disposable (throwaway) domain, fresh-throwaway.test" in _said(checked.output)
    # A running installation sees the new list without a restart.
    refused = services.hygiene.refusal("zoe@fresh-throwaway.test", RoleAddresses.FLAG)
    assert refused is not None
    assert refused.kind == "disposable"
    # Bad sources: named, and the list in force stays.
    broken = tmp_path / "broken.txt"
    broken.write_text("fine.example\nnot a domain\n")
    for source, why in (
        (str(broken), "line 2 is not a domain"),
        (str(tmp_path / "missing.txt"), "no file"),
        ("ftp://lists.example/x.txt", "give a file path or an http(s) URL"),
    ):
        bad = runner.invoke(app, ["hygiene", "update-disposable", source, *base])
        assert bad.exit_code == 2, bad.output
        assert why in _said(bad.output)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    assert runner.invoke(app, ["hygiene", "update-disposable", str(empty), *base]).exit_code == 2
    assert "fresh-throwaway.test" in installed_path(Path(settings.data_dir)).read_text()
    # From a URL the operator gives (a loopback server here: no internet in tests).
    fetched = runner.invoke(
        app, ["hygiene", "update-disposable", f"{list_server}/disposable.txt", *base]
    )
    assert fetched.exit_code == 0, fetched.output
    assert installed_path(Path(settings.data_dir)).read_text() == "throwaway.example.org\n"


def test_role_rule_and_address_check_from_the_command_line(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    if settings.database_url:
        pytest.skip("the CLI here runs on the embedded (SQLite) installation")
    # The command's own settings read the sandbox zone, as `serve --sandbox` does.
    monkeypatch.setenv("COURRIEL_RESOLVER", "sandbox")
    write_hygiene_zone(settings)
    who = make_tenant(services, "CLI")
    lst = services.audience.create_list(who.operator, "News", "news")
    base = ["--data-dir", str(settings.data_dir)]
    runner = CliRunner()
    args = ["hygiene", "role-addresses", "--list", lst.id, "--tenant", who.tenant.id, *base]
    done = runner.invoke(app, [*args[:2], "refuse", *args[2:]])
    assert done.exit_code == 0, done.output
    assert services.audience.get_list(who.operator, lst.id).role_addresses == "refuse"
    wrong = runner.invoke(app, [*args[:2], "sometimes", *args[2:]])
    assert wrong.exit_code == 2
    assert "role_addresses: must be one of flag, refuse" in _said(wrong.output)
    for email, exit_code, said in (
        ("ana@live.test", 0, "ok"),
        ("bob@nullmx.test", 1, "publishes a null MX (RFC 7505)"),
        ("eve@hotmial.com", 1, "did you mean eve@hotmail.com?"),
        ("not an address", 2, "error:"),
    ):
        checked = runner.invoke(app, ["hygiene", "check", email, *base])
        assert checked.exit_code == exit_code, checked.output
        assert said in _said(checked.output)
    role = runner.invoke(
        app, ["hygiene", "check", "postmaster@live.test", "--rule", "refuse", *base]
    )
    assert role.exit_code == 1
    assert "role address" in _said(role.output)
