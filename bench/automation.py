"""The automation engine over 1,000,000 people inside one three-step workflow.

Run: ``.venv/bin/python bench/automation.py [--contacts N] [--due M] [--seconds S]``
(defaults 1,000,000, 200,000 and 30).

The workflow (made through the service, so it is checked like any): a
custom-event trigger, then ``wait 1 day → add to a list → wait 30 days``.
Its people are written straight into the tenant's SQLite database with bulk
INSERTs (contacts, their enrollments at the first wait, and that wait's step
run), as the enroll seam writes them: ``--due`` of them wake at the same
minute, the others spread over the following 30 days.

Measured, on a frozen clock:
- ``idle_pass_ms``: one engine pass one minute before anyone is due (the
  median of 20): its cost must not grow with who is waiting;
- ``steps_per_s``: at the due minute, engine passes for ``--seconds``; each
  person handled runs the end of the wait, the list step, and arrives at the
  second wait (3 steps);
- ``peak_rss_mb``: the process's peak resident memory, seeding included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from common import machine_facts, peak_rss_mb, timed
from courriel.audience.import_batch import BulkInsert
from courriel.audience.models import Contact
from courriel.automation.models import (
    Enrollment,
    EnrollmentState,
    StepRun,
    StepRunState,
    WorkflowVersion,
)
from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.core.db import transaction
from courriel.core.principal import Principal
from courriel.services import Services

CHUNK = 50_000
START = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
DUE = START + dt.timedelta(days=1)
STEPS_PER_PERSON = 3


def seed(services: Services, tenant_id: str, contacts: int, due: int) -> str:
    """The workflow and its people; returns the workflow id."""
    operator = Principal.operator(tenant_id)
    target = services.audience.create_list(operator, "Kept", "Bench", double_opt_in=False)
    view = services.workflows.create(
        operator,
        "Three steps",
        {
            "trigger": {"kind": "custom_event", "name": "bench"},
            "steps": [
                {"key": "first-wait", "kind": "wait", "days": 1, "next": "keep"},
                {"key": "keep", "kind": "add_to_list", "list_id": target.id, "next": "long"},
                {"key": "long", "kind": "wait", "days": 30},
            ],
        },
    )
    services.workflows.activate(operator, view.workflow.id)
    factory = services.storage.tenant(tenant_id)
    with factory() as session:
        version_id = session.scalar(
            select(WorkflowVersion.id).where(WorkflowVersion.workflow_id == view.workflow.id)
        )
    workflow_id = view.workflow.id
    spread = max(contacts - due, 1)
    for start in range(0, contacts, CHUNK):
        with transaction(factory) as session:
            dialect = session.get_bind().dialect
            people = BulkInsert(
                Contact,
                (
                    "id",
                    "email",
                    "email_key",
                    "email_domain",
                    "properties",
                    "created_at",
                    "updated_at",
                ),
                dialect,
            )
            inside = BulkInsert(
                Enrollment,
                (
                    "id",
                    "workflow_id",
                    "version_id",
                    "contact_id",
                    "entry_key",
                    "cycle",
                    "state",
                    "step_key",
                    "next_at",
                    "waiting_for",
                    "payload",
                    "reason",
                    "entered_at",
                ),
                dialect,
            )
            runs = BulkInsert(
                StepRun,
                ("enrollment_id", "step_key", "state", "due_at", "outcome", "created_at"),
                dialect,
            )
            stamp = people.value("created_at", START)
            no_properties = people.value("properties", {})
            entered = inside.value("entered_at", START)
            active = inside.value("state", EnrollmentState.ACTIVE)
            started = runs.value("state", StepRunState.STARTED)
            payload = inside.value("payload", {})
            rows_c, rows_e, rows_r = [], [], []
            for i in range(start, min(start + CHUNK, contacts)):
                cid, eid = f"con_{i:026d}", f"enr_{i:026d}"
                email = f"user{i}@bench.test"
                # The first `due` wake at the same minute; the rest later, spread.
                at = DUE if i < due else DUE + dt.timedelta(minutes=1 + (i - due) * 43200 // spread)
                wake = inside.value("next_at", at)
                rows_c.append((cid, email, email, "bench.test", no_properties, stamp, stamp))
                rows_e.append(
                    (eid, workflow_id, version_id, cid, "once", 1, active, "first-wait",
                     wake, "", payload, "", entered)
                )  # fmt: skip
                rows_r.append((eid, "first-wait", started, wake, "", entered))
            people.run(session, rows_c)
            inside.run(session, rows_e)
            runs.run(session, rows_r)
    return workflow_id


def _big_cache(services: Services, tenant_id: str) -> None:
    """Seeding only: a page cache the million-row indexes fit in, and no fsync."""
    engine = services.storage.tenant(tenant_id).kw["bind"]

    def tune(connection: Any, _record: Any) -> None:
        connection.execute("PRAGMA cache_size=-262144")
        connection.execute("PRAGMA synchronous=OFF")

    event.listen(engine, "connect", tune)
    engine.dispose()


def _seed_apart(args: argparse.Namespace, data_dir: Path, answer: Connection) -> None:
    """In a child process, so its page cache does not count in the measured peak."""
    services = Services.build(Settings(data_dir=data_dir), FrozenClock(START))
    try:
        services.tenants.migrate_shared()
        tenant = services.tenants.create("Bench")
        _big_cache(services, tenant.id)
        workflow_id = seed(services, tenant.id, args.contacts, args.due)
        answer.send((tenant.id, workflow_id))
    finally:
        services.close()


def measure(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    with timed() as took:
        mine, theirs = multiprocessing.get_context("fork").Pipe()
        child = multiprocessing.get_context("fork").Process(
            target=_seed_apart, args=(args, data_dir, theirs)
        )
        child.start()
        tenant_id, workflow_id = mine.recv()
        child.join()
    print(f"seeded {args.contacts:,} people ({args.due:,} due) in {took[0]:.1f} s", flush=True)
    clock = FrozenClock(START)
    settings = Settings(data_dir=data_dir, automation_batch_size=args.batch)
    services = Services.build(settings, clock)
    try:
        engine = services.automation()

        clock.advance(minutes=24 * 60 - 1)  # one minute before the due minute
        engine.run_once()  # warm: connections, statement caches
        idle: list[float] = []
        for _ in range(20):
            began = time.perf_counter()
            handled = engine.run_once()
            idle.append((time.perf_counter() - began) * 1000)
            assert handled == 0, handled
        print(f"idle pass: median {statistics.median(idle):.2f} ms, max {max(idle):.2f} ms")

        clock.advance(minutes=1)
        people = 0
        began = time.perf_counter()
        while time.perf_counter() - began < args.seconds:
            handled = engine.run_once()
            people += handled
            if handled == 0:
                break
        elapsed = time.perf_counter() - began
        factory = services.storage.tenant(tenant_id)
        with factory() as session:
            at_long = session.scalar(
                select(func.count())
                .select_from(Enrollment)
                .where(Enrollment.workflow_id == workflow_id, Enrollment.step_key == "long")
            )
        assert at_long == people, (at_long, people)
        steps = people * STEPS_PER_PERSON
        print(
            f"due minute: {people:,} people, {steps:,} steps in {elapsed:.1f} s "
            f"({people / elapsed:,.0f} people/s)"
        )
        return {
            "contacts": args.contacts,
            "due": args.due,
            "people_moved": people,
            "steps_per_s": round(steps / elapsed, 1),
            "idle_pass_ms": round(statistics.median(idle), 2),
            "idle_pass_max_ms": round(max(idle), 2),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
    finally:
        services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=200, help="engine batch size")
    args = parser.parse_args()
    print(json.dumps(machine_facts()), flush=True)
    with tempfile.TemporaryDirectory(prefix="courriel-bench-automation-") as tmp:
        figures = measure(args, Path(tmp))
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
