"""Scoring a message with SpamAssassin's spamd, over the spamc protocol.

The protocol (SPAMC/1.5, spamd's own documentation "PROTOCOL") is one
request per connection: a command line, headers, a blank line, the
message; spamd answers a status line, headers (`Spam: True ; 6.0 / 5.0`),
a blank line and, for REPORT, the rules that matched with their points.

`SpamdProcess` runs Debian's `spamd` on a loopback port for an
installation that asks for it (`spamd_start`); `spamd_address` points at
one run elsewhere. The rules are those the package ships: `sa-update`
(which needs the internet) is not required, and network tests (DNS
blocklists, Razor, Pyzor) are switched off with `--local` so a score
never waits on a lookup.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from courriel.config import Settings

SPAMC = b"SPAMC/1.5"
# A message larger than this is scored on its first part only (spamc's default limit).
MAX_MESSAGE = 500 * 1024
START_TIMEOUT_S = 60.0
_SPAM_HEADER = re.compile(
    rb"^Spam:\s*(True|False|Yes|No)\s*;\s*(-?[\d.]+)\s*/\s*(-?[\d.]+)", re.IGNORECASE | re.MULTILINE
)
_STATUS = re.compile(rb"^SPAMD/[\d.]+\s+(\d+)\s+(.*)$")
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$")


class SpamdError(Exception):
    """spamd could not be reached or did not answer as the protocol says."""


@dataclass(frozen=True)
class SpamRule:
    """One SpamAssassin rule that matched, with the points it added."""

    name: str
    points: float
    description: str


@dataclass(frozen=True)
class SpamReport:
    """SpamAssassin's verdict: the score, the threshold it counts as spam from, the rules."""

    score: float
    threshold: float
    rules: list[SpamRule] = field(default_factory=list)

    @property
    def spam(self) -> bool:
        return self.score >= self.threshold


class SpamScorer(Protocol):
    """Score a rendered message with SpamAssassin, when there is one."""

    def available(self) -> bool:
        """Whether a spamd is configured (started by Courriel or given by address)."""
        ...

    def describe(self) -> str:
        """Where the spamd is, for messages (`127.0.0.1:783`)."""
        ...

    def score(self, message: bytes) -> SpamReport:
        """SpamAssassin's report on `message` (RFC 5322 bytes); SpamdError if unreachable."""
        ...


def parse_address(value: str) -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:783`) as a pair; ValueError when malformed."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not host:port")
    return host.strip("[]"), int(port)


def spamc(address: tuple[str, int], command: bytes, message: bytes, timeout: float) -> bytes:
    """One request to spamd; the raw answer."""
    body = message[:MAX_MESSAGE]
    request = (
        command + b" " + SPAMC + b"\r\n"
        b"Content-length: " + str(len(body)).encode() + b"\r\n"
        b"User: courriel\r\n\r\n" + body
    )
    try:
        with socket.create_connection(address, timeout=timeout) as conn:
            conn.sendall(request)
            conn.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        raise SpamdError(f"spamd at {address[0]}:{address[1]}: {exc}") from exc
    return b"".join(chunks)


def parse_report(answer: bytes) -> SpamReport:
    """The score, threshold and rules of a REPORT answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status = _STATUS.match(head.split(b"\r\n", 1)[0])
    if status is None:
        raise SpamdError(f"not a spamd answer: {head[:80]!r}")
    if status.group(1) != b"0":
        raise SpamdError(f"spamd refused: {status.group(2).decode(errors='replace')}")
    verdict = _SPAM_HEADER.search(head)
    if verdict is None:
        raise SpamdError("spamd's answer has no Spam header")
    rules: list[SpamRule] = []
    in_table = False
    for line in body.decode("utf-8", errors="replace").splitlines():
        if line.startswith("----"):
            in_table = True
            continue
        if not in_table or not line.strip():
            continue
        found = _RULE.match(line)
        if found is not None:
            rules.append(SpamRule(found.group(2), float(found.group(1)), found.group(3).strip()))
        elif rules and line.startswith(" "):
            # A description wrapped onto the next line.
            last = rules[-1]
            rules[-1] = SpamRule(last.name, last.points, f"{last.description} {line.strip()}")
    return SpamReport(float(verdict.group(2)), float(verdict.group(3)), rules)


class SpamAssassin:
    """The installation's spamd: given by address, or started here. See `SpamScorer`.

    A spamd started by `start` writes its address to `address_file`, so the
    other processes of the installation (HTTP helpers) score with it too.
    """

    def __init__(
        self, address: str = "", timeout: float = 15.0, address_file: Path | None = None
    ) -> None:
        self._address = parse_address(address) if address else None
        self._timeout = timeout
        self._address_file = address_file
        self._process: SpamdProcess | None = None

    def available(self) -> bool:
        """See `SpamScorer`."""
        return self._current() is not None

    def describe(self) -> str:
        """See `SpamScorer`."""
        address = self._current()
        return "" if address is None else f"{address[0]}:{address[1]}"

    def score(self, message: bytes) -> SpamReport:
        """See `SpamScorer`."""
        address = self._current()
        if address is None:
            raise SpamdError("no spamd configured")
        return parse_report(spamc(address, b"REPORT", message, self._timeout))

    def _current(self) -> tuple[str, int] | None:
        if self._address is not None or self._address_file is None:
            return self._address
        try:
            return parse_address(self._address_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        """Start spamd on a free loopback port and use it (`spamd_start`)."""
        if self._process is not None:
            return
        self._process = SpamdProcess.start()
        self._address = self._process.address
        if self._address_file is not None:
            self._address_file.parent.mkdir(parents=True, exist_ok=True)
            self._address_file.write_text(self.describe(), encoding="utf-8")

    def stop(self) -> None:
        """Stop the spamd this object started, if any."""
        if self._process is not None:
            self._process.stop()
            self._process = None
            self._address = None
            if self._address_file is not None:
                self._address_file.unlink(missing_ok=True)


def spamd_address_file(settings: Settings) -> Path:
    """Where a spamd started by Courriel records its address, under the data directory."""
    return Path(settings.data_dir) / "spamassassin" / "spamd.address"


def spamd_installed() -> bool:
    """Whether Debian's spamd is on this machine."""
    return _spamd_binary() is not None


def _spamd_binary() -> str | None:
    return shutil.which("spamd") or next(
        (p for p in ("/usr/sbin/spamd", "/usr/bin/spamd") if os.access(p, os.X_OK)), None
    )


@dataclass
class SpamdProcess:
    """A spamd child process listening on loopback."""

    process: subprocess.Popen[bytes]
    address: tuple[str, int]

    @classmethod
    def start(cls, timeout: float = START_TIMEOUT_S) -> SpamdProcess:
        """Start spamd and wait until it answers PING; SpamdError if it cannot."""
        binary = _spamd_binary()
        if binary is None:
            raise SpamdError("spamd is not installed (Debian package spamassassin)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [
            binary,
            f"--listen=127.0.0.1:{port}",
            "--allowed-ips=127.0.0.1",
            "--local",  # no network tests: DNS blocklists and the like would wait offline
            "--nouser-config",
            "--min-children=1",
            "--max-children=2",
            "--syslog=stderr",
        ]
        if os.geteuid() == 0:
            command.append("--username=nobody")  # spamd will not score as root
        process = subprocess.Popen(  # noqa: S603 - a fixed command line
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started = cls(process, ("127.0.0.1", port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SpamdError(f"spamd exited at start with status {process.returncode}")
            if started.ping():
                return started
            time.sleep(0.2)
        started.stop()
        raise SpamdError(f"spamd did not answer within {timeout:g} s")

    def ping(self) -> bool:
        """Whether spamd answers PING with PONG."""
        try:
            with socket.create_connection(self.address, timeout=2) as conn:
                conn.sendall(b"PING " + SPAMC + b"\r\n\r\n")
                return b"PONG" in conn.recv(256)
        except OSError:
            return False

    def stop(self) -> None:
        """Stop spamd and its children (its own process group)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
