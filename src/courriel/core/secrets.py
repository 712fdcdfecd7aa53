"""The installation's secret key, used for HMACs (API key hashes, signed links)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from courriel.config import Settings
from courriel.core.files import private_directory

KEY_FILE = "secret.key"


def load_secret_key(settings: Settings) -> bytes:
    """Return the configured key, or the one kept in the data directory (made once)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode("utf-8")
    path = Path(settings.data_dir) / KEY_FILE
    if path.exists():
        return path.read_bytes().strip()
    private_directory(path.parent)
    key = secrets.token_hex(32).encode("ascii")
    # Created with owner-only permissions before anything is written to it.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process created it between our check and our open.
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key
