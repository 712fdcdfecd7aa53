"""Crash test: `kill -9` of a `courriel worker` in the middle of 10,000 messages.

A second worker then finishes the job. Every message must end delivered (or
finally failed), none lost; the receiving side may hold duplicates, but no
more than the messages that were in flight (leased, result not committed)
at the kill. The figures are printed. It runs on each backend the `services`
fixture gives (SQLite, and PostgreSQL when COURRIEL_TEST_POSTGRES_URL is set;
an unreachable server fails it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from courriel.config import Settings
from courriel.delivery.models import SpoolMessage, SpoolState
from courriel.events.models import Event, EventType
from courriel.sandbox.providers import with_extra_domains
from courriel.services import Services
from tests.support.delivery import Mailer, ShiftableClock, fast_profiles
from tests.support.sandbox import SandboxThread

pytestmark = pytest.mark.slow

MESSAGES = 10_000
KILL_AFTER = 2_750  # received by the sandbox: mid-batch
LEASE_SECONDS = 10


def _worker(settings: Settings) -> subprocess.Popen[bytes]:
    profiles = {name: p.model_dump() for name, p in fast_profiles().items()}
    env = {
        **os.environ,
        "COURRIEL_DATA_DIR": str(settings.data_dir),
        "COURRIEL_RESOLVER": "sandbox",
        "COURRIEL_WORKER_POLL_SECONDS": "0.05",
        "COURRIEL_WORKER_BATCH_SIZE": "500",
        "COURRIEL_WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
        "COURRIEL_THROTTLE_PROFILES": json.dumps(profiles),
        "COURRIEL_LOG_LEVEL": "WARNING",
    }
    if settings.database_url:
        env["COURRIEL_DATABASE_URL"] = settings.database_url
        env["COURRIEL_DATABASE_PREFIX"] = settings.database_prefix
    courriel = Path(sys.executable).parent / "courriel"
    return subprocess.Popen(
        [str(courriel), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _wait(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_9_mid_campaign_loses_nothing_and_duplicates_at_most_the_in_flight(
    services: Services, settings: Settings
) -> None:
    started = time.monotonic()
    mailer = Mailer(services, services.tenants.create("Crash").id, ShiftableClock())
    providers = with_extra_domains(13)
    domains = [d for p in providers for d in p.domains if d.startswith("d")]
    people = [f"p{n}@{domains[n % len(domains)]}" for n in range(MESSAGES)]
    with SandboxThread(Path(settings.data_dir), providers) as sandbox:
        mailer.send(people)
        spooled_after = time.monotonic() - started
        first = _worker(settings)
        try:
            _wait(lambda: sandbox.store.count() >= KILL_AFTER, 120, "the first deliveries")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        killed_after = time.monotonic() - started
        received_at_kill = sandbox.store.count()
        with services.spool.sessions() as session:
            in_flight = (
                session.scalar(
                    select(func.count())
                    .select_from(SpoolMessage)
                    .where(SpoolMessage.state == SpoolState.LEASED)
                )
                or 0
            )
        # The second worker takes the dead one's messages once their leases end.
        second = _worker(settings)
        try:
            _wait(lambda: _spool_rows(services) == 0, 120, "the second worker to finish")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
        per_rcpt = Counter(sandbox.store.all_recipients())
    delivered = _count_events(services, mailer.tenant_id, EventType.DELIVERED)
    lost = [p for p in people if per_rcpt[p] == 0]
    duplicates = sum(n - 1 for n in per_rcpt.values() if n > 1)
    backend = "postgresql" if settings.database_url else "sqlite"
    print(
        f"\n{backend}: messages {MESSAGES}; received at the kill {received_at_kill}; in flight"
        f" at the kill {in_flight}; duplicates at the receiving side {duplicates}; lost"
        f" {len(lost)}; delivered events {delivered}; spooled after {spooled_after:.0f} s, killed"
        f" after {killed_after:.0f} s, done after {time.monotonic() - started:.0f} s"
    )
    assert lost == []
    assert delivered == MESSAGES
    assert duplicates <= in_flight


def _spool_rows(services: Services) -> int:
    with services.spool.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(SpoolMessage)) or 0)


def _count_events(services: Services, tenant_id: str, kind: EventType) -> int:
    with services.storage.tenant(tenant_id)() as session:
        return int(
            session.scalar(select(func.count()).select_from(Event).where(Event.type == kind)) or 0
        )
