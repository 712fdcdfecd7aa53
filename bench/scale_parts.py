"""The receiving side of bench/scale.py, and what it reads of other processes.

Each sandbox process plays some of the providers with a store of its own
(one SQLite writer per process: a shared store would make the sandboxes
wait for each other's commits); the engines see one internet because their
zone file is the union of the sandboxes' zones. A sandbox writes what its
servers counted (the most sessions at once per provider) when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import signal
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from courriel.sandbox.providers import Provider, with_extra_domains
from courriel.sandbox.server import Sandbox
from courriel.sandbox.store import store_path
from courriel.sandbox.zone import Zone, read_zone, write_zone, zone_path

PROVIDERS = with_extra_domains(13)
_TICKS: int = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def proc_peak_rss_mb(pid: int) -> float:
    """The peak resident memory of a live process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


@dataclass(frozen=True)
class Received:
    """What one sandbox process received, counted at its end."""

    messages: int
    recipients: int
    last_received: float  # seconds since the epoch
    peak_sessions: dict[str, int]


def _serve(data_dir: Path, providers: tuple[Provider, ...], counts: Path) -> None:
    async def main() -> dict[str, int]:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        sandbox = Sandbox(data_dir, providers=providers, store_bodies=False)
        await sandbox.start()
        try:
            await stopping.wait()
        finally:
            await sandbox.stop()
        return {name: h.peak_sessions for name, h in sandbox.handlers.items()}

    counts.write_text(json.dumps(asyncio.run(main())))


class SandboxProcess:
    """A sandbox process for some providers, under its own data directory."""

    def __init__(self, data_dir: Path, providers: tuple[Provider, ...]) -> None:
        self.data_dir = data_dir
        self._counts = data_dir / "peaks.json"
        spawn = multiprocessing.get_context("spawn")
        self._process = spawn.Process(
            target=_serve, args=(data_dir, providers, self._counts), daemon=True
        )

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process.start()

    def zone(self, seconds: float = 60) -> Zone:
        """Its zone, once its servers are bound."""
        path = zone_path(self.data_dir)
        deadline = time.monotonic() + seconds
        while not path.exists():
            if not self._process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox under {self.data_dir} did not start")
            time.sleep(0.05)
        return read_zone(path)

    def stop(self) -> Received:
        """SIGTERM, then SIGKILL after 30 s; what it received (zero if it never ran)."""
        if self._process.pid is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join(30)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(10)
        peaks: dict[str, int] = {}
        with contextlib.suppress(OSError, ValueError):
            peaks = json.loads(self._counts.read_text())
        store = store_path(self.data_dir)
        if not store.exists():
            return Received(0, 0, 0.0, peaks)
        with contextlib.closing(sqlite3.connect(store)) as db:
            messages, recipients, last = db.execute(
                "SELECT count(*), count(DISTINCT rcpt_key), max(received_at) FROM received"
            ).fetchone()
        stamp = dt.datetime.fromisoformat(last).timestamp() if last else 0.0
        return Received(int(messages), int(recipients), stamp, peaks)

    def recipients(self) -> set[str]:
        """Every address it received mail for (after `stop`)."""
        store = store_path(self.data_dir)
        if not store.exists():
            return set()
        with contextlib.closing(sqlite3.connect(store)) as db:
            return {row[0] for row in db.execute("SELECT DISTINCT rcpt_key FROM received")}


def merge_zones(zones: list[Zone], data_dir: Path) -> None:
    """The engines' zone file under `data_dir`: every sandbox's domains and hosts."""
    merged = Zone(domains={}, hosts={})
    for zone in zones:
        merged.domains.update(zone.domains)
        merged.hosts.update(zone.hosts)
    write_zone(zone_path(data_dir), merged)
