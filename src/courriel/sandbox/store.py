"""What the simulated mailboxes received: a local mail catcher in SQLite.

The sandbox servers write here; other processes (``courriel sandbox inbox``,
the HTTP API, tests) read. SQLite in WAL mode lets those readers work while
the servers write, without a server process in between. This is simulator
state, not tenant data, so it uses the standard library directly and lives
outside the tenant databases.
"""

from __future__ import annotations

import email.policy
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesParser
from typing import TYPE_CHECKING, Self, cast

from courriel.core.files import private_file

if TYPE_CHECKING:
    from collections.abc import Iterable
    from email.message import EmailMessage
    from pathlib import Path
    from types import TracebackType

__all__ = ["MailStore", "ReceivedMessage", "store_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS received (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    provider TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    rcpt TEXT NOT NULL,
    rcpt_key TEXT NOT NULL,
    message BLOB NOT NULL,
    peer TEXT NOT NULL DEFAULT '',
    helo TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS received_by_rcpt ON received (rcpt_key, id);
"""

# Long enough to ride out another process's write transaction (they are one
# INSERT batch each), short enough that a stuck writer shows up as an error.
_BUSY_TIMEOUT_S = 5.0


def store_path(data_dir: Path) -> Path:
    """Where the sandbox keeps received mail under ``data_dir``."""
    return data_dir / "sandbox" / "mail.db"


def _address_key(address: str) -> str:
    # RFC 5321 §2.4 makes only the domain case-insensitive, but every real
    # provider also folds the local part, and so do people searching an inbox.
    return address.lower()


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message as one simulated recipient received it."""

    id: int
    received_at: datetime
    provider: str
    mail_from: str
    rcpt: str
    data: bytes
    # The sending client's address and the name it gave in EHLO/HELO: what a
    # receiver judges a sender's reputation (and its reverse DNS) by.
    peer: str = ""
    helo: str = ""

    def as_email(self) -> EmailMessage:
        """The message parsed with the modern ``email`` API."""
        return BytesParser(policy=email.policy.default).parsebytes(self.data)

    @property
    def subject(self) -> str:
        """The decoded Subject header (RFC 2047 words decoded), or ""."""
        return str(self.as_email().get("subject", ""))

    @property
    def text(self) -> str:
        """The text/plain body if there is one, else the text/html body, else ""."""
        body = self.as_email().get_body(preferencelist=("plain", "html"))
        if body is None:
            return ""
        try:
            return str(body.get_content())
        except (LookupError, UnicodeError):
            # An unknown or lying charset must not make the inbox unreadable.
            payload = body.get_payload(decode=True)
            return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


class MailStore:
    """Received mail, one row per recipient, in an SQLite file.

    One connection per store, guarded by a lock: the SMTP handlers call in
    from the event loop while a CLI or API thread may read at the same time,
    and an sqlite3 connection must not be used by two threads at once.
    """

    def __init__(self, path: Path) -> None:
        private_file(path)
        self.path = path
        self._lock = threading.Lock()
        # isolation_level=None: transactions are explicit (BEGIN/COMMIT), so
        # a batch of rows is one commit and readers never see half a batch.
        # timeout= is SQLite's busy_timeout: wait for another process's lock.
        self._db = sqlite3.connect(
            path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        with self._lock:
            self._db.execute("PRAGMA journal_mode = WAL")
            # No fsync at all, not even at WAL checkpoints (which NORMAL
            # still syncs, and which came every few dozen messages of a
            # benchmark): a power cut may lose or damage received mail, which
            # a simulator can afford, while its CPU is shared with the engine
            # it measures. A crash of the process loses nothing committed.
            self._db.execute("PRAGMA synchronous = OFF")
            self._db.executescript(_SCHEMA)
            # A store written before peers were recorded gets the columns.
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(received)")}
            for column in ("peer", "helo"):
                if column not in columns:
                    self._db.execute(
                        f"ALTER TABLE received ADD COLUMN {column} TEXT NOT NULL DEFAULT ''"
                    )

    def add(  # noqa: PLR0917 (one received copy's facts)
        self,
        provider: str,
        mail_from: str,
        rcpts: Iterable[str],
        data: bytes,
        peer: str = "",
        helo: str = "",
    ) -> list[int]:
        """Record ``data`` as received by each of ``rcpts`` from ``peer`` (its EHLO name
        ``helo``); return the row ids."""
        received_at = datetime.now(UTC).isoformat()
        rows = [
            (received_at, provider, mail_from, rcpt, _address_key(rcpt), data, peer, helo)
            for rcpt in rcpts
        ]
        ids: list[int] = []
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for row in rows:
                    cursor = self._db.execute(
                        "INSERT INTO received"
                        " (received_at, provider, mail_from, rcpt, rcpt_key, message, peer, helo)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        row,
                    )
                    ids.append(cast("int", cursor.lastrowid))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return ids

    def inbox(self, address: str, limit: int = 100) -> list[ReceivedMessage]:
        """What ``address`` received, newest first."""
        return self._select(
            "SELECT id, received_at, provider, mail_from, rcpt, message, peer, helo FROM received"
            " WHERE rcpt_key = ? ORDER BY id DESC LIMIT ?",
            (_address_key(address), limit),
        )

    def recent(self, limit: int = 100) -> list[ReceivedMessage]:
        """What any recipient received, newest first (the mail catcher view)."""
        return self._select(
            "SELECT id, received_at, provider, mail_from, rcpt, message, peer, helo FROM received"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )

    def get(self, message_id: int) -> ReceivedMessage | None:
        """One received message by its id."""
        found = self._select(
            "SELECT id, received_at, provider, mail_from, rcpt, message, peer, helo"
            " FROM received WHERE id = ?",
            (message_id,),
        )
        return found[0] if found else None

    def count(self, address: str | None = None) -> int:
        """How many messages ``address`` (or everyone, if None) received."""
        with self._lock:
            if address is None:
                row = self._db.execute("SELECT count(*) FROM received").fetchone()
            else:
                row = self._db.execute(
                    "SELECT count(*) FROM received WHERE rcpt_key = ?", (_address_key(address),)
                ).fetchone()
        return int(row[0])

    def all_recipients(self) -> dict[str, int]:
        """Every recipient that received mail, with how many messages each."""
        with self._lock:
            rows = self._db.execute(
                "SELECT rcpt_key, count(*) FROM received GROUP BY rcpt_key ORDER BY rcpt_key"
            ).fetchall()
        return {str(key): int(n) for key, n in rows}

    def peers(self) -> dict[str, int]:
        """Every sending address seen, with how many messages came from each."""
        with self._lock:
            rows = self._db.execute(
                "SELECT peer, count(*) FROM received GROUP BY peer ORDER BY peer"
            ).fetchall()
        return {str(peer): int(n) for peer, n in rows}

    def clear(self) -> None:
        """Forget everything received (between demo runs or test cases)."""
        with self._lock:
            self._db.execute("DELETE FROM received")

    def close(self) -> None:
        """Close the connection; the file stays for the next reader."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _select(self, sql: str, params: tuple[object, ...]) -> list[ReceivedMessage]:
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [
            ReceivedMessage(
                id=int(row[0]),
                received_at=datetime.fromisoformat(row[1]),
                provider=str(row[2]),
                mail_from=str(row[3]),
                rcpt=str(row[4]),
                data=bytes(row[5]),
                peer=str(row[6]),
                helo=str(row[7]),
            )
            for row in rows
        ]
