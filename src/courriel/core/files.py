"""Files and folders only Courriel's own user may read: the data directory and databases.

The data directory holds every tenant's contacts, the spool's messages and
the keys; with the usual umask (022) SQLite would create its files 0644 in
0755 folders, readable by every local user. Here folders are made (or
tightened to) 0700 and a database file is created 0600 before SQLite opens
it. SQLite gives its -wal and -shm files the mode of the database file, so
those follow; files left by an older version are tightened too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: Path) -> Path:
    """Create `path` (and missing parents) as 0700, or tighten it to 0700; returns it."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIRECTORY_MODE)
    path.chmod(DIRECTORY_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty as 0600 if absent; tighten it and its -wal/-shm to 0600."""
    private_directory(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for companion in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with contextlib.suppress(FileNotFoundError):
            companion.chmod(FILE_MODE)
    return path
