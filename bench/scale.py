"""One campaign, many engines: does one more `courriel worker` deliver more?

A campaign of N recipients (default 1,000,000) goes out on PostgreSQL with
1, 2 and 4 `courriel worker` processes (scheduler, fan-out and delivery
each, as in production), then on SQLite with one process for comparison.
The recipients are seeded straight into the tenant database in bulk
(contacts and their subscriptions, as bench/web.py does); the campaign is a
~10 KB MJML template (bench/compose.py's), personalized, tracked and
DKIM-signed per recipient. The receiving side is the sandbox internet: 50
domains of 4 providers (each provider its own lane), spread over several
sandbox processes so that receiving is not the limit (its CPU share is
printed), each keeping headers only.

Figures, per configuration:
- messages_per_s_<engines>: N / (Send -> the last message received by the
  sandbox), PostgreSQL; sqlite_messages_per_s_1 for SQLite;
- duplicates (over every run): messages received beyond one per recipient,
  counted in the sandbox's own stores; missing: recipients that got nothing;
- per lane, the most sessions the receiving server saw at once against the
  lane's profile limit (max_connections, shared by all engines);
- peak RSS (VmHWM) of each worker and sandbox process;
- CPU milliseconds per message by role: workers, sandbox, and the PostgreSQL
  backends serving this run's databases (sampled from pg_stat_activity and
  /proc), so that a figure taken on a shared 2-core machine still says what
  one message costs each part.

Run from the project root:
  COURRIEL_BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
  MALLOC_ARENA_MAX=2 .venv/bin/python bench/scale.py [--recipients 1000000]
(COURRIEL_TEST_POSTGRES_URL is used when the first is not set.) Every
database, process and directory it made is removed at the end, also after a
failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from common import cpu_seconds, report
from compose import template_source
from courriel.audience.import_batch import BulkInsert
from courriel.audience.models import Contact, Subscription, SubscriptionStatus
from courriel.campaigns.models import Campaign, CampaignRecipient, CampaignStatus
from courriel.config import Settings
from courriel.config.profiles import ThrottleProfile, default_profiles
from courriel.core.db import transaction
from courriel.core.principal import Principal
from courriel.delivery.models import SpoolMessage
from courriel.events.models import Event
from courriel.services import Services
from scale_parts import PROVIDERS, SandboxProcess, merge_zones, proc_cpu_s, proc_peak_rss_mb

CHUNK = 20_000
# Every lane opens at most MAX_CONNECTIONS sessions across all engines
# together (the profile, kept in the throttle rows); one engine opens at most
# PER_ENGINE of them (lane_max_connections). One engine: 4 a lane; two and
# four engines: the shared limit of 6 is what holds them back.
MAX_CONNECTIONS = 6
PER_ENGINE = 4
# Each contact's last orders, which the template lists.
ORDERS = [{"number": 1000 + i, "total": 19.9 * (i + 1), "date": "2026-10-01"} for i in range(3)]
DOMAINS = [d for p in PROVIDERS for d in p.domains if d.startswith("d")][:50]


def profiles() -> dict[str, ThrottleProfile]:
    """The built-in lanes, limited in sessions only: the rates measure us, not a cap."""
    return {
        name: p.model_copy(
            update={
                "max_connections": MAX_CONNECTIONS,
                "messages_per_connection": 1000,
                "messages_per_minute": 6_000_000,
                "messages_per_hour": 360_000_000,
            }
        )
        for name, p in default_profiles().items()
    }


def engine_env(settings: Settings) -> dict[str, str]:
    """What each `courriel worker` is told through its environment."""
    env = {
        **os.environ,
        "COURRIEL_DATA_DIR": str(settings.data_dir),
        "COURRIEL_RESOLVER": "sandbox",
        "COURRIEL_THROTTLE_PROFILES": json.dumps(
            {n: p.model_dump() for n, p in profiles().items()}
        ),
        "COURRIEL_WORKER_BATCH_SIZE": "1000",
        "COURRIEL_LANE_MAX_CONNECTIONS": str(PER_ENGINE),
        "COURRIEL_WORKER_POLL_SECONDS": "0.2",
        "COURRIEL_LOG_LEVEL": "WARNING",
        # Small pools: four engines with the default (5 + 10 for each of three
        # databases) took 60 of a shared server's 100 connections.
        "COURRIEL_DATABASE_POOL_SIZE": "2",
        "COURRIEL_DATABASE_MAX_OVERFLOW": "3",
    }
    if settings.database_url:
        env["COURRIEL_DATABASE_URL"] = settings.database_url
        env["COURRIEL_DATABASE_PREFIX"] = settings.database_prefix
    return env


@dataclass
class Run:
    """One configuration's processes, and what it leaves to clean up."""

    backend: str
    engines: int
    data_dir: Path
    prefix: str
    server: str | None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    sandboxes: list[SandboxProcess] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            database_url=self.server,
            database_prefix=self.prefix,
            resolver="sandbox",
            throttle_profiles=profiles(),
            log_level="WARNING",
        )

    def stop(self) -> None:
        """Stop workers (SIGTERM, then SIGKILL) and sandboxes; drop databases; remove files."""
        # A second Ctrl-C must not cut the cleaning short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
        for sandbox in self.sandboxes:
            sandbox.stop()
        if self.server:
            drop_databases(self.server, self.prefix)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def drop_databases(server: str, prefix: str) -> None:
    """Drop every database of one run (`<prefix>_control`, `_spool`, `_t_…`)."""
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            names = conn.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                {"p": f"{prefix}\\_%"},
            ).scalars()
            for name in list(names):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def seed(services: Services, count: int) -> tuple[str, str, str]:
    """A tenant, a list of `count` subscribed contacts, a draft campaign to it."""
    services.tenants.migrate_shared()
    tenant = services.tenants.create("Scale")
    operator = Principal.operator(tenant.id)
    mailing_list = services.audience.create_list(operator, "News", "News", double_opt_in=False)
    now = services.clock.now()
    factory = services.storage.tenant(tenant.id)
    for start in range(0, count, CHUNK):
        with transaction(factory) as session:
            dialect = session.get_bind().dialect
            people = BulkInsert(
                Contact,
                (
                    "id",
                    "email",
                    "email_key",
                    "email_domain",
                    "first_name",
                    "properties",
                    "created_at",
                    "updated_at",
                ),
                dialect,
            )
            subs = BulkInsert(
                Subscription,
                ("list_id", "contact_id", "status", "created_at", "updated_at"),
                dialect,
            )
            stamp = people.value("created_at", now)
            subscribed = subs.value("status", SubscriptionStatus.SUBSCRIBED)
            contacts: list[tuple[Any, ...]] = []
            rows: list[tuple[Any, ...]] = []
            for n in range(start, min(start + CHUNK, count)):
                domain = DOMAINS[n % len(DOMAINS)]
                email = f"person{n}@{domain}"
                properties = people.value(
                    "properties", {"city": "Lyon", "points": n, "since": "2021", "orders": ORDERS}
                )
                contacts.append(
                    (f"con_{n:026d}", email, email, domain, f"Zoë{n}", properties, stamp, stamp)
                )
                rows.append((mailing_list.id, f"con_{n:026d}", subscribed, stamp, stamp))
            people.run(session, contacts)
            subs.run(session, rows)
    template, _version = services.templates.create(
        operator,
        "Spring",
        "{{ contact.first_name }}, our spring sale",
        mjml=template_source(10_000),
        defaults={"contact.points": 0, "contact.since": "2021", "contact.orders": ""},
    )
    campaign = services.campaigns.create(
        operator,
        name="Spring sale",
        template_id=template.id,
        list_ids=[mailing_list.id],
        from_email="news@shop.test",
    )
    return tenant.id, campaign.id, mailing_list.id


def wait_idle(pids: list[int], seconds: float = 90) -> None:
    """Until every process has started and idles (its import and migration done)."""
    deadline = time.monotonic() + seconds
    before = {pid: proc_cpu_s(pid) for pid in pids}
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = {pid: proc_cpu_s(pid) for pid in pids}
        if all(now[p] - before[p] < 0.1 for p in pids):
            return
        before = now


class PostgresCpu:
    """CPU seconds of the PostgreSQL backends serving one run's databases.

    Backends are sampled while the run goes (pool connections live long);
    the largest reading of each pid counts, so a backend that ends between
    two samples loses at most its last interval.
    """

    def __init__(self, server: str | None, prefix: str) -> None:
        self._engine = (
            create_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
            if server
            else None
        )
        self._prefix = prefix
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._conn: Any = None

    def sample(self) -> None:
        if self._engine is None:
            return
        if self._conn is None:
            self._conn = self._engine.connect()
        pids = self._conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname LIKE :p"),
            {"p": f"{self._prefix}\\_%"},
        ).scalars()
        for pid in pids:
            with contextlib.suppress(OSError):
                cpu = proc_cpu_s(int(pid))
                self._first.setdefault(pid, cpu)
                self._last[pid] = cpu

    def seconds(self) -> float:
        # A backend first seen mid-run counts from its start (its CPU before
        # the first sample was this run's too); those seen at the start, from then.
        return sum(self._last[p] - self._first.get(p, 0.0) for p in self._last)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._engine is not None:
            self._engine.dispose()


def _status(services: Services, tenant_id: str, campaign_id: str) -> tuple[bool, int]:
    with services.storage.tenant(tenant_id)() as session:
        status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    with services.spool.sessions() as session:
        spooled = int(session.scalar(select(func.count()).select_from(SpoolMessage)) or 0)
    return status is CampaignStatus.SENT, spooled


def outcomes(services: Services, tenant_id: str) -> dict[str, int]:
    """Recipients per fan-out state and events per type, as the tenant database has them."""
    with services.storage.tenant(tenant_id)() as session:
        states = session.execute(
            select(CampaignRecipient.state, func.count()).group_by(CampaignRecipient.state)
        ).all()
        events = session.execute(select(Event.type, func.count()).group_by(Event.type)).all()
    return {f"recipients_{k.value}": n for k, n in states} | {
        f"events_{k.value}": n for k, n in events
    }


def explain_missing(services: Services, tenant_id: str, count: int, got: set[str]) -> None:
    """Print what the tenant database says of a few recipients the sandbox never saw."""
    missing = [
        e for n in range(count) if (e := f"person{n}@{DOMAINS[n % len(DOMAINS)]}") not in got
    ]
    with services.storage.tenant(tenant_id)() as session:
        for email in missing[:5]:
            contact = session.scalar(select(Contact.id).where(Contact.email == email))
            kinds = session.execute(
                select(Event.type, Event.detail).where(Event.contact_id == contact)
            ).all()
            print(f"  missing {email}: events {[(k.value, d) for k, d in kinds]}", flush=True)


def measure(run: Run, count: int, sandboxes: int, timeout: float) -> dict[str, float | int]:
    """Seed, start sandboxes and engines, Send, wait for the last message; the figures."""
    tag = f"{run.backend}_{run.engines}"
    services = Services.build(run.settings)
    began = time.perf_counter()
    tenant_id, campaign_id, _list = seed(services, count)
    seeded_s = time.perf_counter() - began
    print(f"[{tag}] seeded {count:,} recipients in {seeded_s:.1f} s", flush=True)
    shares = [PROVIDERS[k::sandboxes] for k in range(sandboxes)]
    run.sandboxes = [SandboxProcess(run.data_dir / f"internet{k}", s) for k, s in enumerate(shares)]
    for sandbox in run.sandboxes:
        sandbox.start()
    merge_zones([s.zone() for s in run.sandboxes], run.data_dir)
    courriel = str(Path(sys.executable).parent / "courriel")
    env = engine_env(run.settings)
    run.workers = [
        subprocess.Popen([courriel, "worker"], env=env, stdout=subprocess.DEVNULL)
        for _ in range(run.engines)
    ]
    wait_idle([w.pid for w in run.workers])
    pg = PostgresCpu(run.server, run.prefix)
    pg.sample()
    before = {w.pid: proc_cpu_s(w.pid) for w in run.workers}
    sandbox_before = {s.pid: proc_cpu_s(s.pid) for s in run.sandboxes}
    own_before = sum(cpu_seconds())
    load_before = os.getloadavg()[0]
    sent_at = time.time()
    services.campaign_control.send(Principal.operator(tenant_id), campaign_id)
    after: dict[int, float] = {}
    while True:
        time.sleep(1.0)
        pg.sample()
        after = {w.pid: proc_cpu_s(w.pid) for w in run.workers if w.poll() is None}
        dead = [w for w in run.workers if w.poll() is not None]
        if dead:
            raise RuntimeError(f"[{tag}] a worker exited with {dead[0].returncode}")
        if time.time() - sent_at > timeout:
            raise RuntimeError(f"[{tag}] not done after {timeout:.0f} s")
        sent, spooled = _status(services, tenant_id, campaign_id)
        if sent and spooled == 0:
            break
    load_after = os.getloadavg()[0]
    tally = outcomes(services, tenant_id)
    sandbox_after = {s.pid: proc_cpu_s(s.pid) for s in run.sandboxes}
    worker_rss = [proc_peak_rss_mb(w.pid) for w in run.workers]
    sandbox_rss = [proc_peak_rss_mb(s.pid) for s in run.sandboxes]
    own_cpu = sum(cpu_seconds()) - own_before
    pg_cpu = pg.seconds()
    pg.close()
    for worker in run.workers:
        worker.send_signal(signal.SIGTERM)
    for worker in run.workers:
        worker.wait(60)
    received = [s.stop() for s in run.sandboxes]
    if sum(r.recipients for r in received) < count:
        got = {a for s in run.sandboxes for a in s.recipients()}
        explain_missing(services, tenant_id, count, got)
    services.close()
    last = max(r.last_received for r in received)
    elapsed = last - sent_at
    total = sum(r.messages for r in received)
    distinct = sum(r.recipients for r in received)
    peaks = {lane: peak for r in received for lane, peak in r.peak_sessions.items()}
    worker_cpu = sum(after[p] - before[p] for p in before)
    sandbox_cpu = sum(sandbox_after[p] - sandbox_before[p] for p in sandbox_before)
    busiest_sandbox = max(sandbox_after[p] - sandbox_before[p] for p in sandbox_before)

    def ms(seconds: float) -> float:
        return round(seconds / count * 1000, 3)

    figures: dict[str, float | int] = {
        f"seed_s_{tag}": round(seeded_s, 1),
        f"seconds_{tag}": round(elapsed, 1),
        f"delivered_events_{tag}": tally.get("events_delivered", 0),
        f"received_{tag}": total,
        f"duplicates_{tag}": total - distinct,
        f"missing_{tag}": count - distinct,
        f"peak_sessions_{tag}": max(peaks.values()),
        f"lane_limit_held_{tag}": int(max(peaks.values()) <= MAX_CONNECTIONS),
        f"worker_cpu_ms_per_message_{tag}": ms(worker_cpu),
        f"sandbox_cpu_ms_per_message_{tag}": ms(sandbox_cpu),
        f"postgres_cpu_ms_per_message_{tag}": ms(pg_cpu),
        f"bench_cpu_ms_per_message_{tag}": ms(own_cpu),
        f"sandbox_busiest_core_share_{tag}": round(busiest_sandbox / elapsed, 2),
        f"worker_peak_rss_mb_{tag}": max(worker_rss),
        f"sandbox_peak_rss_mb_{tag}": max(sandbox_rss),
        f"load_before_{tag}": round(load_before, 1),
        f"load_after_{tag}": round(load_after, 1),
    }
    rate = count / elapsed
    print(
        f"[{tag}] {rate:,.1f} messages/s ({elapsed:.1f} s); received {total:,},"
        f" duplicates {total - distinct}, missing {count - distinct}; sessions at once per lane"
        f" {peaks} (limit {MAX_CONNECTIONS}); CPU ms a message: workers {ms(worker_cpu)},"
        f" sandbox {ms(sandbox_cpu)}, postgres {ms(pg_cpu)}; worker RSS {worker_rss} MB;"
        f" {tally}",
        flush=True,
    )
    figures[
        f"messages_per_s_{run.engines}" if run.backend == "pg" else "sqlite_messages_per_s_1"
    ] = round(rate, 1)
    return figures


def stop_signal(_signum: int, _frame: object) -> None:
    """SIGTERM: as Ctrl-C."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts_as_exceptions() -> Iterator[None]:
    """SIGTERM ends the benchmark as Ctrl-C does: through every `finally`."""

    previous = signal.signal(signal.SIGTERM, stop_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--engines", default="1,2,4", help="worker counts on PostgreSQL")
    parser.add_argument("--sandboxes", type=int, default=2, help="sandbox processes")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds per run")
    args = parser.parse_args()
    server = os.environ.get("COURRIEL_BENCH_POSTGRES_URL") or os.environ.get(
        "COURRIEL_TEST_POSTGRES_URL"
    )
    plan: list[tuple[str, int]] = []
    if server:
        plan += [("pg", int(n)) for n in args.engines.split(",") if n]
    else:
        print("PostgreSQL skipped: set COURRIEL_BENCH_POSTGRES_URL", flush=True)
    if not args.no_sqlite:
        plan.append(("sqlite", 1))
    figures: dict[str, float | int] = {"recipients": args.recipients}
    with interrupts_as_exceptions():
        for backend, engines in plan:
            run = Run(
                backend=backend,
                engines=engines,
                data_dir=Path(tempfile.mkdtemp(prefix="courriel-scale-")),
                prefix=f"cscale{secrets.token_hex(4)}",
                server=server if backend == "pg" else None,
            )
            try:
                figures |= measure(run, args.recipients, args.sandboxes, args.timeout)
            finally:
                run.stop()
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, stop_signal)
    figures["duplicates"] = sum(v for k, v in figures.items() if k.startswith("duplicates_"))
    figures["missing"] = sum(v for k, v in figures.items() if k.startswith("missing_"))
    figures["lane_limit_held"] = int(
        all(v for k, v in figures.items() if k.startswith("lane_limit_held_"))
    )
    figures["lane_max_connections"] = MAX_CONNECTIONS
    rss: Callable[[str], float] = lambda role: max(  # noqa: E731
        (float(v) for k, v in figures.items() if k.startswith(f"{role}_peak_rss_mb_")), default=0
    )
    figures["worker_peak_rss_mb"] = rss("worker")
    figures["sandbox_peak_rss_mb"] = rss("sandbox")
    report("scale: one campaign, many engines", figures)


if __name__ == "__main__":
    main()
