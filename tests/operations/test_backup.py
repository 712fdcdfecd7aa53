"""Backups: a set restored into an empty installation gives the same data back;
a damaged or foreign set changes nothing; retention keeps days and weeks."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from courriel.audience.models import ConsentSource
from courriel.audience.service import ConsentInput, ContactInput
from courriel.cli.main import app
from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.core.errors import CourrielError, InvalidInputError
from courriel.core.storage import Storage
from courriel.operations.backup.archive import BackupError
from courriel.operations.backup.service import BackupService
from courriel.services import Services
from tests.support.databases import POSTGRES_URL, drop_databases
from tests.support.tenants import TenantAccess

KEY = secrets.token_hex(32)


def _backup_settings(settings: Settings, tmp_path: Path, **changes: object) -> Settings:
    return settings.model_copy(
        update={"backup_key": SecretStr(KEY), "backup_dir": tmp_path / "backups", **changes}
    )


def _seed(services: Services, who: TenantAccess, n: int = 30) -> str:
    op = who.operator
    lst = services.audience.create_list(op, "Lettre", "news", double_opt_in=False)
    consent = ConsentInput(source=ConsentSource.API, purpose_text="news", ip="192.0.2.9")
    for i in range(n):
        services.audience.subscribe(
            op, ContactInput(email=f"p{i}@gmail.test", first_name=f"Zoé {i}"), [lst.id], consent
        )
    return lst.id


def _export(services: Services, who: TenantAccess, list_id: str) -> str:
    return "".join(services.audience.exports.export(who.operator, list_id, "csv"))


def test_a_set_restored_into_an_empty_installation_gives_identical_exports(
    services: Services,
    settings: Settings,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
    tmp_path: Path,
    backend: str,
) -> None:
    lists = {
        tenant_a.tenant.id: _seed(services, tenant_a),
        tenant_b.tenant.id: _seed(services, tenant_b, 5),
    }
    before = {t.tenant.id: _export(services, t, lists[t.tenant.id]) for t in (tenant_a, tenant_b)}
    backups = BackupService(services.storage, _backup_settings(settings, tmp_path), services.clock)
    made = backups.create()
    assert {m.name for m in made.members} == {
        "secret",
        "control",
        "spool",
        f"tenant-{tenant_a.tenant.id}",
        f"tenant-{tenant_b.tenant.id}",
    }
    # The files hold neither the addresses nor names in the clear.
    for member in made.members:
        raw = (backups.directory / made.id / member.file).read_bytes()
        assert b"gmail.test" not in raw
        assert "Zoé".encode() not in raw
    services.close()

    # An empty installation: a new data directory (and, on PostgreSQL, no databases).
    if backend == "postgres":
        assert POSTGRES_URL is not None
        drop_databases(POSTGRES_URL, settings.database_prefix)
    target = _backup_settings(settings, tmp_path, data_dir=tmp_path / "restored")
    storage = Storage(target)
    done = BackupService(storage, target, FrozenClock()).restore(made.id)
    storage.dispose()
    assert done.erased_again == 0

    restored = Services.build(target)
    try:
        for who in (tenant_a, tenant_b):
            assert _export(restored, who, lists[who.tenant.id]) == before[who.tenant.id]
        # The installation key came back too: the old API key still works.
        assert restored.api_keys.authenticate(tenant_a.key).tenant_id == tenant_a.tenant.id
    finally:
        restored.close()


def test_a_damaged_or_foreign_set_is_refused_and_changes_nothing(
    services: Services, settings: Settings, tenant_a: TenantAccess, tmp_path: Path, backend: str
) -> None:
    list_id = _seed(services, tenant_a, 3)
    backups = BackupService(services.storage, _backup_settings(settings, tmp_path), services.clock)
    made = backups.create(tenant_a.tenant.id)
    assert [m.name for m in made.members] == [f"tenant-{tenant_a.tenant.id}"]
    assert backups.verify(made.id).id == made.id
    original = _export(services, tenant_a, list_id)

    other_key = _backup_settings(settings, tmp_path, backup_key=SecretStr(secrets.token_hex(32)))
    with pytest.raises(BackupError, match="made with the key"):
        BackupService(services.storage, other_key, services.clock).verify(made.id)

    path = backups.directory / made.id / made.members[0].file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="does not match its checksum"):
        backups.restore(made.id, tenant_a.tenant.id)
    # Even with the manifest's checksum forged, the sealed chunk gives it away.
    manifest = backups.directory / made.id / "manifest.json"

    text = manifest.read_text().replace(
        made.members[0].file_sha256, hashlib.sha256(bytes(data)).hexdigest()
    )
    manifest.write_text(text)
    with pytest.raises(BackupError, match=r"chunk \d+ of the backup file is damaged"):
        backups.restore(made.id, tenant_a.tenant.id)
    services.audience.subscribe(
        tenant_a.operator,
        ContactInput(email="late@gmail.test"),
        [list_id],
        ConsentInput(source=ConsentSource.API, purpose_text="news"),
    )
    after = _export(services, tenant_a, list_id)
    assert after != original
    assert "late@gmail.test" in after, "the refused restore left the database as it was"


def test_retention_keeps_the_newest_set_of_recent_days_and_weeks(tmp_path: Path) -> None:
    # Retention is about folders and dates, the same whatever the storage: one
    # small embedded installation is enough.
    settings = _backup_settings(Settings(data_dir=tmp_path / "data"), tmp_path)
    services = Services.build(settings)
    services.tenants.migrate_shared()
    clock = FrozenClock(dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC))  # a Monday
    backups = BackupService(services.storage, settings, clock)
    made = []
    for _ in range(21):  # three weeks, two sets a day
        made.append(backups.create())
        clock.advance(hours=12)
        made.append(backups.create())
        clock.advance(hours=12)
    removed = backups.prune(keep_daily=3, keep_weekly=2)
    kept = {s.id for s in backups.sets()}
    newest_of_day = [made[i].id for i in range(41, 0, -2)]
    assert kept == set(newest_of_day[:3]) | {made[41].id, made[27].id}
    assert len(removed) == 42 - len(kept)
    services.close()


def test_without_a_key_nothing_is_written(services: Services, settings: Settings) -> None:
    backups = BackupService(services.storage, settings, services.clock)
    with pytest.raises(InvalidInputError, match="COURRIEL_BACKUP_KEY: is not set"):
        backups.create()
    assert not backups.directory.exists()


def test_the_command_line_names_a_missing_key(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["backup", "create", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "COURRIEL_BACKUP_KEY" in result.output


def test_a_person_erased_after_the_backup_stays_erased_when_it_is_restored(
    services: Services, settings: Settings, tenant_a: TenantAccess, tmp_path: Path, backend: str
) -> None:
    list_id = _seed(services, tenant_a, 4)
    gone = next(
        c
        for c in services.audience.list_contacts(tenant_a.operator, None, 10).items
        if c.email == "p2@gmail.test"
    )
    backups = BackupService(services.storage, _backup_settings(settings, tmp_path), services.clock)
    made = backups.create()
    services.privacy_rights.erase_now(tenant_a.operator, gone.id)
    assert "p2@gmail.test" not in _export(services, tenant_a, list_id)

    done = backups.restore(made.id)
    assert done.erased_again == 1
    export = _export(services, tenant_a, list_id)
    assert "p2@gmail.test" not in export
    assert "p1@gmail.test" in export, "only the erased person went"
    with pytest.raises(CourrielError, match=r"erased"):
        services.audience.subscribe(
            tenant_a.operator,
            ContactInput(email="p2@gmail.test"),
            [list_id],
            ConsentInput(source=ConsentSource.API, purpose_text="news"),
        )
    if backend == "sqlite":
        data = services.storage.tenant_sqlite_path(tenant_a.tenant.id).read_bytes()
        assert b"p2@gmail.test" not in data, "no copy left in the restored file"
    # A second restore of the same set erases again: the log survived the first.
    assert backups.restore(made.id).erased_again == 1
