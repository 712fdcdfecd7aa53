"""Consistent dumps of one database and their restoration.

SQLite: the online backup API copies a live database page by page into a
snapshot file, consistent even while engines write (sqlite.org/backup.html).
PostgreSQL: `pg_dump` in its custom format, one transaction-consistent
snapshot, restored with `pg_restore`; both come with Debian's
postgresql-client, which the Makefile installs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

from courriel.operations.backup.archive import BackupError

_PIECE = 1 << 20


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq (pg_dump, pg_restore) reads it."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def sqlite_dump(path: Path, scratch: Path) -> Iterator[Iterator[bytes]]:
    """The pieces of a consistent copy of the SQLite database at `path`."""
    if not path.exists():
        raise BackupError(f"no database at {path}")
    copy = Path(tempfile.mkstemp(dir=scratch, suffix=".db")[1])
    try:
        with (
            contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as source,
            contextlib.closing(sqlite3.connect(copy)) as target,
        ):
            source.backup(target)
        with copy.open("rb") as handle:
            yield iter(lambda: handle.read(_PIECE), b"")
    finally:
        copy.unlink(missing_ok=True)


def sqlite_restore(pieces: Iterator[bytes], path: Path) -> None:
    """Write a dump to `path`, replacing what is there only once it is whole and sound."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, name = tempfile.mkstemp(dir=path.parent, suffix=".restoring")
    partial = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in pieces:
                handle.write(piece)
        with contextlib.closing(sqlite3.connect(partial)) as db:
            verdict = db.execute("PRAGMA integrity_check").fetchone()
        if verdict != ("ok",):
            raise BackupError(f"the restored database fails its integrity check: {verdict}")
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian package postgresql-client)")
    return found


@contextlib.contextmanager
def postgres_dump(url: str) -> Iterator[Iterator[bytes]]:
    """The pieces of `pg_dump --format=custom` of the database at `url`."""
    # -Z0: the archive compresses with zstd; compressing twice costs CPU for nothing.
    command = [_tool("pg_dump"), "--format=custom", "-Z0", "--no-owner", "--no-acl"]
    process = subprocess.Popen(  # noqa: S603 - fixed program, URL passed as one argument
        [*command, f"--dbname={libpq_url(url)}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None

    out = process.stdout

    def pieces() -> Iterator[bytes]:
        yield from iter(lambda: out.read(_PIECE), b"")
        _, err = process.communicate()
        if process.returncode != 0:
            raise BackupError(f"pg_dump failed: {err.decode(errors='replace').strip()[:500]}")

    try:
        yield pieces()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def postgres_restore(pieces: Iterator[bytes], url: str, scratch: Path) -> None:
    """Restore a custom-format dump into the (existing, empty or older) database at `url`."""
    fd, name = tempfile.mkstemp(dir=scratch, suffix=".dump")
    dump = Path(name)
    try:
        # Whole and checked before pg_restore touches the database.
        with os.fdopen(fd, "wb") as handle:
            for piece in pieces:
                handle.write(piece)
        done = subprocess.run(  # noqa: S603 - fixed program and arguments
            [
                _tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-acl",
                "--single-transaction",
                f"--dbname={libpq_url(url)}",
                str(dump),
            ],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise BackupError(f"pg_restore failed: {done.stderr.decode(errors='replace')[:500]}")
    finally:
        dump.unlink(missing_ok=True)
