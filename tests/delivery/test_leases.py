"""Issue 18 item 13: heartbeat-renewed short leases for messages and lane slots.

A worker killed with kill -9 used to leave its messages untouched for the
whole 300 s lease, and the lane connection slots it held stayed taken just
as long (the example.test lane delivered nothing for 309 s after a restart).
Leases are now short and renewed by a heartbeat while the worker lives: a
dead worker's messages and slots move on within about 30 s, and a slow, live
worker keeps its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from courriel.config import Settings
from courriel.delivery.models import SpoolMessage, SpoolState
from courriel.delivery.worker import DeliveryWorker
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import Mailer, ShiftableClock, WorkerFactory, fast_profiles
from tests.support.sandbox import SandboxThread

pytestmark = pytest.mark.slow

MESSAGES = 1_500
KILL_AFTER = 500


def _worker(settings: Settings) -> subprocess.Popen[bytes]:
    # The installation's default lease and heartbeat: nothing set here.
    profiles = {name: p.model_dump() for name, p in fast_profiles().items()}
    env = {
        **os.environ,
        "COURRIEL_DATA_DIR": str(settings.data_dir),
        "COURRIEL_RESOLVER": "sandbox",
        "COURRIEL_WORKER_POLL_SECONDS": "0.05",
        "COURRIEL_WORKER_BATCH_SIZE": "500",
        "COURRIEL_THROTTLE_PROFILES": json.dumps(profiles),
        "COURRIEL_LOG_LEVEL": "WARNING",
    }
    if settings.database_url:
        env["COURRIEL_DATABASE_URL"] = settings.database_url
        env["COURRIEL_DATABASE_PREFIX"] = settings.database_prefix
    courriel = Path(sys.executable).parent / "courriel"
    return subprocess.Popen(
        [str(courriel), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait(condition: object, seconds: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def _unfinished(services: Services) -> int:
    with services.spool.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(SpoolMessage)) or 0)


def test_a_killed_workers_messages_and_lane_slots_move_on_within_30_seconds(
    services: Services, settings: Settings
) -> None:
    mailer = Mailer(services, services.tenants.create("Crash").id, ShiftableClock())
    people = [f"p{n}@example.test" for n in range(MESSAGES)]
    with SandboxThread(Path(settings.data_dir)) as sandbox:
        # Slow enough that the first worker is mid-campaign when it is killed.
        sandbox.behaviours["example"].configure(reply_delay_seconds=0.01)
        mailer.send(people)
        first = _worker(settings)
        try:
            _wait(lambda: sandbox.store.count() >= KILL_AFTER, 120, "the first deliveries")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        at_kill = sandbox.store.count()
        second = _worker(settings)
        try:
            # The lane (4 slots, all held by the dead process) delivers again
            # once the dead worker's message and slot leases end.
            moved_on = _wait(
                lambda: sandbox.store.count() > at_kill + 10, 60, "the lane to deliver again"
            )
            _wait(lambda: _unfinished(services) == 0, 120, "the second worker to finish")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
        per_rcpt = Counter(sandbox.store.all_recipients())
    print(f"\nkilled at {at_kill} received; the lane delivered again after {moved_on:.1f} s")
    assert moved_on < 40
    assert [p for p in people if per_rcpt[p] == 0] == []


def test_a_slow_live_worker_keeps_its_messages(
    services: Services, sandbox: Sandbox, mailer: Mailer, make_worker: WorkerFactory
) -> None:
    # Each transaction takes ~12 s (6 s at RCPT, 6 s at DATA), more than the
    # 10 s lease: only the heartbeat keeps the message with its worker.
    sandbox.behaviours["example"].configure(reply_delay_seconds=6)
    settings = services.settings.model_copy(
        update={
            "throttle_profiles": fast_profiles(),
            "worker_lease_seconds": 10,
            "worker_heartbeat_seconds": 2,
            "lane_max_connections": 1,
        }
    )
    mailer.send(["slow@example.test"])
    slow: DeliveryWorker = make_worker("slow-worker", settings)
    stop = asyncio.Event()
    runner = threading.Thread(target=lambda: asyncio.run(slow.run(stop)), daemon=True)
    runner.start()
    try:
        _wait(lambda: _leased_by(services, "slow-worker") == 1, 10, "the slow worker's claim")
        time.sleep(11)  # past the lease the message was claimed with
        other = make_worker("other-worker", settings)
        assert asyncio.run(other.run_once()) == 0
        _wait(lambda: _unfinished(services) == 0, 30, "the slow worker to finish")
    finally:
        stop.set()
        runner.join(30)
    assert sandbox.store.count("slow@example.test") == 1


def _leased_by(services: Services, owner: str) -> int:
    with services.spool.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(SpoolMessage)
                .where(SpoolMessage.state == SpoolState.LEASED, SpoolMessage.lease_owner == owner)
            )
            or 0
        )
