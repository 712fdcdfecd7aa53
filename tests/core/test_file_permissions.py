"""Issue 18 item 9: the data directory and every database file are the owner's alone."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from courriel.config import Settings
from courriel.core.principal import Principal
from courriel.sandbox.store import MailStore, store_path
from courriel.services import Services


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_directories_are_0700_and_database_files_0600(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the usual umask, which made them 0755 and 0644
    try:
        data = tmp_path / "data"
        services = Services.build(Settings(data_dir=data, resolver="sandbox"))
        try:
            services.tenants.migrate_shared()
            tenant = services.tenants.create("Acme")
            services.audience.create_list(Principal.operator(tenant.id), "News", "Our news")
            store = MailStore(store_path(data))
            try:
                databases = [
                    data / "control.db",
                    data / "spool.db",
                    services.storage.tenant_sqlite_path(tenant.id),
                    store_path(data),
                ]
                for database in databases:
                    assert database.exists(), database
                    for companion in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
                        if companion.exists():
                            assert _mode(companion) == 0o600, companion
                assert Path(f"{databases[2]}-wal").exists()
                for directory in (data, data / "tenants", data / "sandbox"):
                    assert _mode(directory) == 0o700, directory
            finally:
                store.close()
        finally:
            services.close()
    finally:
        os.umask(old_umask)
