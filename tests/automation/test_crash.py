"""Crash test: `kill -9` of a `courriel worker` while it runs a two-mail workflow.

People enter a workflow of two send steps; a worker process (automation
engine and delivery together, as `courriel worker` runs them) is killed with
SIGKILL once part of the mail has arrived, mid-steps. A second worker takes
over once the dead one's leases end. Every person must get both messages,
none lost; a message may arrive twice only if it was in flight in the
delivery engine at the kill (leased in the spool): a step run twice never
spools its message twice. The figures are printed.
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
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from courriel.automation.models import Enrollment, EnrollmentState, StepRun, StepRunState
from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.delivery.models import SpoolMessage, SpoolState
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.automation.helpers import (
    add_contact,
    make_list,
    make_template,
    make_workflow,
    run,
    subjects,
)
from tests.support.delivery import fast_profiles
from tests.support.sandbox import SandboxThread
from tests.support.tenants import TenantAccess

PEOPLE = 120
KILL_AFTER = 100  # steps done, of 240: mid-workflow
LEASE_SECONDS = 3


def _worker(settings: Settings) -> subprocess.Popen[bytes]:
    profiles = {name: p.model_dump() for name, p in fast_profiles().items()}
    env = {
        "COURRIEL_THROTTLE_PROFILES": json.dumps(profiles),
        **os.environ,
        "COURRIEL_DATA_DIR": str(settings.data_dir),
        "COURRIEL_RESOLVER": "sandbox",
        "COURRIEL_WORKER_POLL_SECONDS": "0.05",
        "COURRIEL_WORKER_LEASE_SECONDS": "10",
        "COURRIEL_AUTOMATION_POLL_SECONDS": "0.05",
        "COURRIEL_AUTOMATION_BATCH_SIZE": "20",
        "COURRIEL_AUTOMATION_LEASE_SECONDS": str(LEASE_SECONDS),
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


@pytest.mark.slow
def test_kill_9_mid_workflow_sends_nothing_twice_beyond_the_in_flight(
    client: TestClient, services: Services, settings: Settings, tenant_a: TenantAccess
) -> None:
    h = tenant_a.headers
    first, second = (make_template(client, h, f"Step {n}") for n in (1, 2))
    make_workflow(
        client,
        h,
        {
            "trigger": {"kind": "custom_event", "name": "signed-up"},
            "steps": [
                {
                    "key": "one",
                    "kind": "send",
                    "template_id": first,
                    "mail_class": "transactional",
                    "next": "two",
                },
                {
                    "key": "two",
                    "kind": "send",
                    "template_id": second,
                    "mail_class": "transactional",
                },
            ],
        },
    )
    accounts = make_list(client, h, "Accounts")
    domains = ("gmail.test", "yahoo.test", "outlook.test", "example.test")
    people = [f"p{n}@{domains[n % len(domains)]}" for n in range(PEOPLE)]
    for email in people:
        created = client.post(
            "/v1/contacts",
            json={
                "email": email,
                "lists": [accounts],
                "consent": {"source": "api", "purpose_text": "account", "ip": "192.0.2.1"},
            },
            headers=h,
        )
        assert created.status_code == 201, created.text
        event = client.post(
            "/v1/events/custom", json={"name": "signed-up", "email": email}, headers=h
        )
        assert event.status_code == 201, event.text
    tenant_id = tenant_a.tenant.id
    with SandboxThread(Path(settings.data_dir)) as sandbox:
        first_worker = _worker(settings)
        try:
            _wait(lambda: _steps_done(services, tenant_id) >= KILL_AFTER, 150, "the first steps")
        finally:
            first_worker.send_signal(signal.SIGKILL)
            first_worker.wait(10)
        received_at_kill = sandbox.store.count()
        in_flight = _spool_count(services, SpoolState.LEASED)
        steps_mid = _steps_started(services, tenant_id)
        second_worker = _worker(settings)
        try:
            _wait(
                lambda: _finished(services, tenant_id) == PEOPLE and _spool_count(services) == 0,
                180,
                "the second worker to finish",
            )
        finally:
            second_worker.send_signal(signal.SIGTERM)
            second_worker.wait(30)
        per_rcpt = Counter(sandbox.store.all_recipients())
    lost = [p for p in people if per_rcpt[p] < 2]
    duplicates = sum(n - 2 for n in per_rcpt.values() if n > 2)
    backend = "postgresql" if settings.database_url else "sqlite"
    print(
        f"\n{backend}: people {PEOPLE}, messages {2 * PEOPLE}; received at the kill"
        f" {received_at_kill}; steps started but not done at the kill {steps_mid}; in flight"
        f" in the spool {in_flight}; duplicates {duplicates}; lost {len(lost)}"
    )
    assert lost == []
    assert duplicates <= in_flight


def _spool_count(services: Services, state: SpoolState | None = None) -> int:
    with services.spool.sessions() as session:
        query = select(func.count()).select_from(SpoolMessage)
        if state is not None:
            query = query.where(SpoolMessage.state == state)
        return int(session.scalar(query) or 0)


def _finished(services: Services, tenant_id: str) -> int:
    with services.storage.tenant(tenant_id)() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Enrollment)
                .where(Enrollment.state == EnrollmentState.COMPLETED)
            )
            or 0
        )


def _steps_done(services: Services, tenant_id: str) -> int:
    with services.storage.tenant(tenant_id)() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(StepRun).where(StepRun.state == StepRunState.DONE)
            )
            or 0
        )


def _steps_started(services: Services, tenant_id: str) -> int:
    with services.storage.tenant(tenant_id)() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(StepRun)
                .where(StepRun.state == StepRunState.STARTED)
            )
            or 0
        )


class _CrashError(Exception):
    pass


def test_an_engine_dying_between_spool_and_finish_leaves_the_message_sent_once(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    sandbox: Sandbox,
    clock: FrozenClock,
) -> None:
    """The worst moment, on purpose: the message is in the spool, the step not yet done."""
    h = tenant_a.headers
    news = make_list(client, h)
    template = make_template(client, h, "Only once")
    make_workflow(
        client,
        h,
        {
            "trigger": {"kind": "list_subscribed", "list_id": news},
            "steps": [{"key": "once", "kind": "send", "template_id": template}],
        },
    )
    for n in range(3):
        add_contact(client, h, f"once{n}@gmail.test", [news])
    dying = services.automation()

    def crash() -> None:
        raise _CrashError

    dying._runner.after_spool = crash
    with pytest.raises(_CrashError):
        dying.run_tenant(tenant_a.tenant.id)
    assert _steps_started(services, tenant_a.tenant.id) == 1
    # Before the lease ends another engine leaves the person alone…
    services.automation().drain()
    assert _steps_started(services, tenant_a.tenant.id) == 1
    # …after it, it finishes the step without spooling the message again.
    clock.advance(seconds=services.settings.automation_lease_seconds + 1)
    run(services)
    for n in range(3):
        assert subjects(sandbox, f"once{n}@gmail.test") == ["Only once"]
    assert _steps_started(services, tenant_a.tenant.id) == 0
    assert _finished(services, tenant_a.tenant.id) == 3
