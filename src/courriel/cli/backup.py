"""`courriel backup`: sets of every database, sealed with the backup key."""

from __future__ import annotations

from typing import Annotated

import typer

from courriel.cli.common import DataDir, console, fail
from courriel.config import Settings
from courriel.core.clock import SystemClock
from courriel.core.errors import CourrielError
from courriel.core.storage import Storage
from courriel.operations.backup.service import BackupService

backup_app = typer.Typer(
    help="Backups: create, list, verify, restore, prune.", no_args_is_help=True
)

TenantChoice = Annotated[
    str | None, typer.Option("--tenant", help="Only this tenant's database (tenant id)")
]


def _service(data_dir: DataDir) -> tuple[BackupService, Storage]:
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    # Storage alone, not the services: a restore may start from an empty data
    # directory, and nothing must be migrated or created before the files return.
    storage = Storage(settings)
    return BackupService(storage, settings, SystemClock()), storage


@backup_app.command("create")
def create(data_dir: DataDir = None, tenant: TenantChoice = None) -> None:
    """Back up the control, spool and every tenant database (or one tenant's)."""
    service, storage = _service(data_dir)
    try:
        made = service.create(tenant)
    except CourrielError as exc:
        raise fail(exc) from exc
    finally:
        storage.dispose()
    console.print(f"{made.id}\t{len(made.members)} files\t{made.size} bytes")


@backup_app.command("list")
def list_sets(data_dir: DataDir = None) -> None:
    """Complete sets, newest first."""
    service, storage = _service(data_dir)
    storage.dispose()
    for each in service.sets():
        console.print(f"{each.id}\t{each.scope}\t{len(each.members)} files\t{each.size} bytes")


@backup_app.command("verify")
def verify(set_id: str, data_dir: DataDir = None) -> None:
    """Read a set back whole: checksums, decryption, each database's own check."""
    service, storage = _service(data_dir)
    try:
        found = service.verify(set_id)
    except CourrielError as exc:
        raise fail(exc) from exc
    finally:
        storage.dispose()
    console.print(f"{found.id}: {len(found.members)} files intact")


@backup_app.command("restore")
def restore(set_id: str, data_dir: DataDir = None, tenant: TenantChoice = None) -> None:
    """Put a set back (stop `serve` and `worker` first): migrated, erasures made again."""
    service, storage = _service(data_dir)
    try:
        done = service.restore(set_id, tenant)
    except CourrielError as exc:
        raise fail(exc) from exc
    finally:
        storage.dispose()
    console.print(
        f"restored {done.backup.id}; {done.erased_again} people erased since the backup "
        "were erased again"
    )


@backup_app.command("prune")
def prune(data_dir: DataDir = None) -> None:
    """Delete the sets outside retention (settings backup_keep_daily, backup_keep_weekly)."""
    service, storage = _service(data_dir)
    storage.dispose()
    for name in service.prune():
        console.print(f"deleted {name}")
