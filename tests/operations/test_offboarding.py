"""Tenant offboarding: suspended at once, deleted after the grace period with its
backups, certified, and nothing of it left in the files."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from courriel.audience.models import ConsentSource
from courriel.audience.service import ConsentInput, ContactInput
from courriel.cli.main import app
from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.core.errors import AuthenticationError, ConflictError, NotFoundError
from courriel.operations.backup.service import BackupService
from courriel.operations.offboarding import Offboarding
from courriel.services import Services
from tests.support.tenants import TenantAccess


def _seed(services: Services, who: TenantAccess, marker: str) -> str:
    lst = services.audience.create_list(who.operator, "Lettre", "news", double_opt_in=False)
    consent = ConsentInput(source=ConsentSource.API, purpose_text="news")
    for i in range(5):
        services.audience.subscribe(
            who.operator, ContactInput(email=f"{marker}{i}@gmail.test"), [lst.id], consent
        )
    return lst.id


def _export(services: Services, who: TenantAccess, list_id: str) -> str:
    return "".join(services.audience.exports.export(who.operator, list_id, "csv"))


def test_a_deleted_tenant_is_suspended_then_gone_from_databases_and_backups(
    services: Services,
    settings: Settings,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
    tmp_path: Path,
    backend: str,
) -> None:
    _seed(services, tenant_a, "leaving")
    list_b = _seed(services, tenant_b, "staying")
    export_b = _export(services, tenant_b, list_b)
    keyed = settings.model_copy(
        update={"backup_key": SecretStr(secrets.token_hex(32)), "backup_dir": tmp_path / "bk"}
    )
    clock = FrozenClock(dt.datetime.now(dt.UTC))
    backups = BackupService(services.storage, keyed, clock)
    before = backups.create()
    offboarding = Offboarding(services.storage, keyed, clock, backups)

    pending = offboarding.request(tenant_a.tenant.id, "operator")
    assert pending.delete_after == clock.now() + dt.timedelta(days=20)
    with pytest.raises(AuthenticationError):
        services.api_keys.authenticate(tenant_a.key)
    with pytest.raises(ConflictError, match="already requested"):
        offboarding.request(tenant_a.tenant.id, "operator")

    clock.advance(days=19, hours=23)
    assert offboarding.run_due() == []
    assert services.audience.list_lists(tenant_a.operator, None, 10).items, "kept in the grace"
    clock.advance(hours=1)
    [done] = offboarding.run_due()

    assert done.certificate is not None
    assert done.certificate["traces_found"] == []
    assert done.certificate["backup_files_deleted"] == 1
    assert done.certificate["rows_deleted"]["tenants"] == 1
    assert offboarding.get(tenant_a.tenant.id).deleted_at == clock.now()
    with pytest.raises(NotFoundError):
        services.tenants.get(tenant_a.tenant.id)
    assert offboarding.run_due() == [], "carried out once"
    # The backup set lost A's file and still verifies; B is untouched.
    after = backups.verify(before.id)
    assert {m.tenant_id for m in after.members} == {None, tenant_b.tenant.id}
    assert _export(services, tenant_b, list_b) == export_b

    if backend == "sqlite":
        assert not services.storage.tenant_sqlite_path(tenant_a.tenant.id).exists()
        for path in [*Path(settings.data_dir).rglob("*"), *(tmp_path / "bk").rglob("*")]:
            if path.is_file():
                data = path.read_bytes()
                assert b"leaving" not in data, path
                # Only the control database names it, in the deletion certificate.
                in_certificate = path.name.startswith("control.db")
                assert tenant_a.tenant.id.encode() not in data or in_certificate, path
    else:
        database = make_url(services.storage.tenant_database_url(tenant_a.tenant.id) or "").database
        with services.storage.control_engine.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": database}
            ).first()
        assert found is None


def test_a_deletion_can_be_cancelled_during_the_grace_period(
    services: Services, tenant_a: TenantAccess
) -> None:
    services.offboarding.request(tenant_a.tenant.id, "operator")
    services.offboarding.cancel(tenant_a.tenant.id)
    assert services.api_keys.authenticate(tenant_a.key).tenant_id == tenant_a.tenant.id
    with pytest.raises(NotFoundError, match="no deletion"):
        services.offboarding.cancel(tenant_a.tenant.id)


def test_the_command_line_suspends_and_names_the_date(tmp_path: Path) -> None:
    runner = CliRunner()
    data = str(tmp_path / "data")
    assert (
        runner.invoke(app, ["tenant", "create", "Agence Dupont", "--data-dir", data]).exit_code == 0
    )
    result = runner.invoke(app, ["tenant", "delete", "Agence Dupont", "--data-dir", data])
    assert result.exit_code == 0, result.output
    assert "suspended" in result.output
    listed = runner.invoke(app, ["tenant", "list", "--data-dir", data])
    assert "disabled" in listed.output
    missing = runner.invoke(app, ["tenant", "delete", "Nobody", "--data-dir", data])
    assert missing.exit_code == 2
    assert "0 tenants are named 'Nobody'" in missing.output
