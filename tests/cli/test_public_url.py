"""One public URL per installation: the CLI builds the links the server answers,
and a server without COURRIEL_PUBLIC_URL outside the sandbox says so at start."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from courriel.audience.models import ConsentSource
from courriel.audience.service import ConsentInput, ContactInput
from courriel.cli.main import app
from courriel.config import Settings, record_public_url
from courriel.core.clock import FrozenClock
from courriel.delivery.models import SpoolMessage
from courriel.delivery.transfer import stored_message
from courriel.privacy.governance import GovernanceInput
from tests.support.databases import Templates, build_services
from tests.support.tenants import make_tenant


def test_the_cli_builds_the_links_the_server_answers(tmp_path: Path, templates: Templates) -> None:
    # The server was started on another port than the default, without a public URL.
    served = Settings(data_dir=tmp_path, http_port=9137, resolver="sandbox")
    assert record_public_url(served) is None  # the sandbox needs no public address
    assert served.public_url == "http://127.0.0.1:9137"

    # A person whose consent is old enough to be asked again.
    past = FrozenClock(dt.datetime.now(dt.UTC) - dt.timedelta(days=800))
    services = build_services(Settings(data_dir=tmp_path, resolver="sandbox"), templates, past)
    tenant = make_tenant(services, "Acme")
    letter = services.audience.create_list(tenant.operator, "Letter", double_opt_in=False)
    services.audience.subscribe(
        tenant.operator,
        ContactInput(email="old@gmail.test"),
        [letter.id],
        ConsentInput(source=ConsentSource.API, purpose_text="letter"),
    )
    services.governance.set(tenant.operator, letter.id, GovernanceInput(consent_months=12))
    services.close()

    result = CliRunner().invoke(
        app,
        ["retention", "run", "--tenant", tenant.tenant.id, "--data-dir", str(tmp_path)],
        env={"COURRIEL_RESOLVER": "sandbox"},
    )
    assert result.exit_code == 0, result.output
    assert "1 asked again" in result.output

    again = build_services(Settings(data_dir=tmp_path, resolver="sandbox"), templates)
    try:
        with again.storage.spool() as session:
            rows = session.execute(select(SpoolMessage.body_format, SpoolMessage.body)).all()
    finally:
        again.close()
    assert len(rows) == 1
    message = stored_message(*rows[0]).decode("utf-8", "replace")
    assert "http://127.0.0.1:9137/r/reconfirm" in message
    assert ":8025" not in message


def test_a_server_without_public_url_outside_the_sandbox_warns(tmp_path: Path) -> None:
    bare = Settings(data_dir=tmp_path, http_port=9138, resolver="dns")
    warning = record_public_url(bare)
    assert warning is not None
    assert "COURRIEL_PUBLIC_URL" in warning
    configured = Settings(data_dir=tmp_path, public_url="https://mail.acme.test/")
    assert record_public_url(configured) is None
    assert configured.public_url == "https://mail.acme.test"
    assert Settings(data_dir=tmp_path).public_url == "https://mail.acme.test"
