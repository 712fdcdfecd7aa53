"""Backup sets: every database of an installation (or one tenant's), at one moment.

A set is a folder under the backup directory named by its time: one sealed
file per database (archive.py), the installation's secret key sealed the same
way (without it, API keys, signed links and suppression hashes of a restored
installation would no longer match), and `manifest.json`, written last, so a
folder without a manifest is an interrupted set that `prune` removes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from courriel.config import Settings
from courriel.core import migrate
from courriel.core.clock import Clock
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.core.models import Tenant
from courriel.core.secrets import KEY_FILE, load_secret_key
from courriel.core.storage import Storage
from courriel.operations.backup import archive, snapshot
from courriel.operations.backup.archive import BackupError
from courriel.privacy import erasure_log

MANIFEST = "manifest.json"
SHARED = ("control", "spool")
_SET_NAME = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Member:
    """One sealed file of a set."""

    name: str  # control, spool, tenant-<id>, secret
    kind: str  # sqlite, postgresql, key
    tenant_id: str | None
    file: str
    file_bytes: int
    file_sha256: str
    plain_bytes: int
    plain_sha256: str


@dataclass(frozen=True)
class BackupSet:
    """A complete set, as its manifest describes it."""

    id: str
    created_at: dt.datetime
    key_id: str
    scope: str  # "installation" or "tenant:<id>"
    members: tuple[Member, ...]

    @property
    def size(self) -> int:
        """Bytes on disk."""
        return sum(m.file_bytes for m in self.members)


def parse_key(value: str) -> bytes:
    """The backup key setting (64 hex digits) as 32 bytes."""
    try:
        key = bytes.fromhex(value.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise InvalidInputError(
            "COURRIEL_BACKUP_KEY",
            "must be 64 hex digits (32 bytes), e.g. from "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`",
        )
    return key


class BackupService:
    """Create, list, verify, restore and prune backup sets."""

    def __init__(self, storage: Storage, settings: Settings, clock: Clock) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self.directory = settings.backup_dir or Path(settings.data_dir) / "backups"

    def _key(self) -> bytes:
        if self._settings.backup_key is None:
            raise InvalidInputError(
                "COURRIEL_BACKUP_KEY",
                "is not set: give 64 hex digits and keep them away from the data "
                "directory (a backup is only as safe as its key)",
            )
        return parse_key(self._settings.backup_key.get_secret_value())

    # -- create ------------------------------------------------------------

    def create(self, tenant_id: str | None = None) -> BackupSet:
        """Back up every database, or only `tenant_id`'s."""
        key = self._key()
        now = self._clock.now()
        set_id = f"{now.strftime(_SET_NAME)}-{secrets.token_hex(3)}"
        folder = self.directory / set_id
        folder.mkdir(parents=True, mode=0o700)
        self.directory.chmod(0o700)
        tenants = self._tenants()
        if tenant_id is not None:
            if tenant_id not in tenants:
                raise NotFoundError(f"unknown tenant {tenant_id!r}")
            tenants = {tenant_id: tenants[tenant_id]}
        members: list[Member] = []
        sealer = _Sealer(folder, key, {"set": set_id, "created_at": now.isoformat()})
        if tenant_id is None:
            secret = load_secret_key(self._settings)
            members.append(sealer.seal("secret", "key", None, iter([secret])))
            members.extend(self._database(sealer, family, None, None) for family in SHARED)
        members.extend(
            self._database(sealer, f"tenant-{each}", each, url)
            for each, url in sorted(tenants.items())
        )
        made = BackupSet(
            id=set_id,
            created_at=now,
            key_id=archive.key_id(key),
            scope="installation" if tenant_id is None else f"tenant:{tenant_id}",
            members=tuple(members),
        )
        manifest = {**asdict(made), "created_at": now.isoformat()}
        _write_private(folder / MANIFEST, json.dumps(manifest, indent=2).encode())
        return made

    def _tenants(self) -> dict[str, str | None]:
        with self._storage.control() as session:
            rows = session.execute(select(Tenant.id, Tenant.database_url)).all()
        return {row[0]: row[1] for row in rows}

    def _database(
        self, sealer: _Sealer, name: str, tenant_id: str | None, tenant_url: str | None
    ) -> Member:
        url = self._url(name, tenant_id, tenant_url)
        with tempfile.TemporaryDirectory(dir=sealer.folder) as scratch:
            if url is None:
                path = self._sqlite_path(name, tenant_id)
                with snapshot.sqlite_dump(path, Path(scratch)) as pieces:
                    return sealer.seal(name, "sqlite", tenant_id, pieces)
            with snapshot.postgres_dump(url) as pieces:
                return sealer.seal(name, "postgresql", tenant_id, pieces)

    # -- where each database lives ----------------------------------------

    def _url(self, name: str, tenant_id: str | None, tenant_url: str | None) -> str | None:
        if tenant_id is not None:
            return tenant_url or self._storage.tenant_database_url(tenant_id)
        engine = self._storage.control_engine if name == "control" else self._storage.spool_engine
        if engine.dialect.name == "sqlite":
            return None
        return engine.url.render_as_string(hide_password=False)

    def _sqlite_path(self, name: str, tenant_id: str | None) -> Path:
        if tenant_id is not None:
            return self._storage.tenant_sqlite_path(tenant_id)
        return Path(self._settings.data_dir) / f"{name}.db"

    # -- list, verify ------------------------------------------------------

    def sets(self) -> list[BackupSet]:
        """Complete sets, newest first."""
        if not self.directory.exists():
            return []
        found = []
        for folder in self.directory.iterdir():
            manifest = folder / MANIFEST
            if manifest.is_file():
                found.append(_load(manifest))
        return sorted(found, key=lambda s: (s.created_at, s.id), reverse=True)

    def get(self, set_id: str) -> BackupSet:
        """One complete set."""
        manifest = self.directory / Path(set_id).name / MANIFEST
        if not manifest.is_file():
            raise NotFoundError(f"no complete backup set {set_id!r}")
        return _load(manifest)

    def verify(self, set_id: str) -> BackupSet:
        """Read every file of a set back: checksums, decryption, the dump's own check."""
        found = self.get(set_id)
        key = self._key()
        folder = self.directory / found.id
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            for member in found.members:
                path = folder / member.file
                if not path.is_file() or _file_sha256(path) != member.file_sha256:
                    raise BackupError(f"{member.file} is missing or does not match its checksum")
                with path.open("rb") as source:
                    pieces = archive.read(source, key)
                    if member.kind == "sqlite":
                        snapshot.sqlite_restore(pieces, Path(scratch) / f"{member.name}.db")
                    else:
                        for _ in pieces:
                            pass
        return found

    # -- restore -----------------------------------------------------------

    def restore(self, set_id: str, tenant_id: str | None = None) -> Restored:
        """Put a set's databases back (all, or one tenant's); engines must be stopped.

        Each file is decrypted and checked whole before its database is
        replaced, so a damaged backup changes nothing. The databases are then
        migrated to this version's schema, and every erasure made since the
        backup is made again (privacy/erasure_log.py): the log is read before
        the control database is replaced and merged back after.
        """
        found = self.get(set_id)
        key = self._key()
        members = list(found.members)
        if tenant_id is not None:
            members = [m for m in members if m.tenant_id == tenant_id]
            if not members:
                raise NotFoundError(f"backup set {found.id!r} holds no tenant {tenant_id!r}")
        self.verify(found.id)
        carried = erasure_log.read(self._storage)
        folder = self.directory / found.id
        order = {"secret": 0, "control": 1, "spool": 2}
        self._storage.dispose()
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            for member in sorted(members, key=lambda m: order.get(m.name, 3)):
                with (folder / member.file).open("rb") as source:
                    pieces = archive.read(source, key)
                    self._restore_member(member, pieces, Path(scratch))
        self._storage.dispose()
        return Restored(found, self._catch_up(members, carried))

    def _catch_up(self, members: list[Member], carried: list[erasure_log.Logged]) -> int:
        """Migrate what was restored, then erase again whoever was erased since."""
        for member in members:
            if member.name in SHARED:
                engine = (
                    self._storage.control_engine
                    if member.name == "control"
                    else self._storage.spool_engine
                )
                migrate.upgrade(engine, member.name)
        erasure_log.merge(self._storage, carried)
        secret = load_secret_key(self._settings)
        now = self._clock.now()
        erased = 0
        for member in members:
            if member.tenant_id is not None:
                engine = self._storage.tenant(member.tenant_id).kw["bind"]
                migrate.upgrade(engine, "tenant")
                erased += erasure_log.reapply(self._storage, secret, member.tenant_id, now)
        self._storage.dispose()
        return erased

    def _restore_member(self, member: Member, pieces: Iterator[bytes], scratch: Path) -> None:
        if member.kind == "key":
            secret = b"".join(pieces)
            path = Path(self._settings.data_dir) / KEY_FILE
            if self._settings.secret_key is None:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                _write_private(path, secret, replace=True)
            elif self._settings.secret_key.get_secret_value().encode() != secret:
                raise BackupError("COURRIEL_SECRET_KEY differs from the backed-up installation key")
            return
        url = self._url(member.name, member.tenant_id, self._tenant_url(member.tenant_id))
        if member.kind == "sqlite":
            if url is not None:
                raise BackupError(
                    f"{member.name} was backed up from SQLite; this installation "
                    "uses PostgreSQL (restore with the same storage)"
                )
            snapshot.sqlite_restore(pieces, self._sqlite_path(member.name, member.tenant_id))
            return
        if url is None:
            raise BackupError(
                f"{member.name} was backed up from PostgreSQL; this installation uses SQLite"
            )
        if member.tenant_id is not None and url == self._storage.tenant_database_url(
            member.tenant_id
        ):
            self._storage.new_tenant_database_url(member.tenant_id)  # made if missing
        snapshot.postgres_restore(pieces, url, scratch)

    def _tenant_url(self, tenant_id: str | None) -> str | None:
        if tenant_id is None:
            return None
        return self._tenants().get(tenant_id)

    # -- offboarding -------------------------------------------------------

    def forget_tenant(self, tenant_id: str) -> int:
        """Delete a departed tenant's files from every set; returns how many went.

        Installation sets lose the tenant's member (their manifest is
        rewritten); sets of that tenant alone are removed whole.
        """
        removed = 0
        for each in self.sets():
            folder = self.directory / each.id
            if each.scope == f"tenant:{tenant_id}":
                removed += len(each.members)
                shutil.rmtree(folder)
                continue
            gone = [m for m in each.members if m.tenant_id == tenant_id]
            if not gone:
                continue
            kept = BackupSet(
                each.id,
                each.created_at,
                each.key_id,
                each.scope,
                tuple(m for m in each.members if m.tenant_id != tenant_id),
            )
            manifest = {**asdict(kept), "created_at": each.created_at.isoformat()}
            _write_private(folder / MANIFEST, json.dumps(manifest, indent=2).encode(), replace=True)
            for member in gone:
                (folder / member.file).unlink(missing_ok=True)
                removed += 1
        return removed

    # -- prune -------------------------------------------------------------

    def prune(self, keep_daily: int | None = None, keep_weekly: int | None = None) -> list[str]:
        """Delete the sets outside retention: the newest of each of the last
        `keep_daily` days and of each of the last `keep_weekly` ISO weeks stay.
        Interrupted sets (no manifest) older than a day go too."""
        daily = self._settings.backup_keep_daily if keep_daily is None else keep_daily
        weekly = self._settings.backup_keep_weekly if keep_weekly is None else keep_weekly
        sets = self.sets()
        keep: set[str] = set()
        days: dict[dt.date, str] = {}
        weeks: dict[tuple[int, int], str] = {}
        for each in sets:  # newest first: the first seen of a day or week is its newest
            days.setdefault(each.created_at.date(), each.id)
            iso = each.created_at.isocalendar()
            weeks.setdefault((iso.year, iso.week), each.id)
        keep.update(list(days.values())[:daily])
        keep.update(list(weeks.values())[:weekly])
        removed = [each.id for each in sets if each.id not in keep]
        cutoff = self._clock.now() - dt.timedelta(days=1)
        if self.directory.exists():
            for folder in self.directory.iterdir():
                if folder.is_dir() and not (folder / MANIFEST).exists():
                    started = dt.datetime.fromtimestamp(folder.stat().st_mtime, dt.UTC)
                    if started < cutoff:
                        removed.append(folder.name)
        for name in removed:
            shutil.rmtree(self.directory / name)
        return removed


@dataclass(frozen=True)
class Restored:
    """What a restore did."""

    backup: BackupSet
    erased_again: int


@dataclass(frozen=True)
class _Sealer:
    """Writes the sealed files of one set."""

    folder: Path
    key: bytes
    header: dict[str, Any]

    def seal(self, name: str, kind: str, tenant_id: str | None, pieces: Iterator[bytes]) -> Member:
        target = self.folder / f"{name}.cbk"
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            meta = {**self.header, "member": name, "kind": kind, "tenant_id": tenant_id}
            sealed = archive.write(out, meta, self.key, pieces)
            out.flush()
            os.fsync(out.fileno())
        return Member(
            name=name,
            kind=kind,
            tenant_id=tenant_id,
            file=target.name,
            file_bytes=sealed.file_bytes,
            file_sha256=_file_sha256(target),
            plain_bytes=sealed.plain_bytes,
            plain_sha256=sealed.plain_sha256,
        )


def _load(manifest: Path) -> BackupSet:
    data = json.loads(manifest.read_text())
    return BackupSet(
        id=data["id"],
        created_at=dt.datetime.fromisoformat(data["created_at"]),
        key_id=data["key_id"],
        scope=data["scope"],
        members=tuple(Member(**m) for m in data["members"]),
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for piece in iter(lambda: handle.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def _write_private(path: Path, data: bytes, replace: bool = False) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
