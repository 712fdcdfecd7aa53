"""Issue 20: kill -9 of one engine while three share a campaign on PostgreSQL.

test_crash.py kills the only worker and starts another; here three `courriel
worker` processes deliver one campaign and one of them, the one holding the
most messages at that moment, is killed with SIGKILL mid-delivery. The two
left finish the campaign, taking the dead engine's messages once their
leases end: every recipient receives the campaign, and the only duplicates
at the receiving side are among the messages the dead engine held (leased,
result not committed) when it died. The figures are printed.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from courriel.campaigns.models import Campaign, CampaignStatus, FanoutJob
from courriel.config import Settings
from courriel.delivery.models import SpoolMessage, SpoolState
from courriel.sandbox.providers import with_extra_domains
from courriel.services import Services
from tests.support.databases import POSTGRES_URL
from tests.support.engines import engine_process
from tests.support.sandbox import SandboxThread
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import make_tenant

pytestmark = pytest.mark.slow

RECIPIENTS = 1_200
KILL_AFTER = 300  # received by the sandbox: early in the campaign
ENGINES = 3
LEASE_SECONDS = 10
PROVIDERS = with_extra_domains(5)
DOMAINS = [d for p in PROVIDERS for d in p.domains if d.startswith("d")]


@pytest.fixture(params=["postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Engines share a database server: this is PostgreSQL's test."""
    if not POSTGRES_URL:
        pytest.skip("COURRIEL_TEST_POSTGRES_URL is not set")
    name: str = request.param
    return name


def test_kill_9_of_one_of_three_engines_loses_nothing_and_duplicates_only_its_in_flight(
    services: Services, settings: Settings
) -> None:
    tenant = make_tenant(services, "Engines")
    people = [f"reader{n}@{DOMAINS[n % len(DOMAINS)]}" for n in range(RECIPIENTS)]
    campaign_id = make_campaign(services, tenant, [seed_list(services, tenant, people)])
    # Short leases, so the survivors take the dead engine's messages quickly.
    extra = {"COURRIEL_WORKER_LEASE_SECONDS": str(LEASE_SECONDS)}
    with SandboxThread(Path(settings.data_dir), PROVIDERS) as sandbox:
        engines = [engine_process(settings, extra) for _ in range(ENGINES)]
        try:
            services.campaign_control.send(tenant.operator, campaign_id)
            _wait(lambda: sandbox.store.count() >= KILL_AFTER, 240, "the first deliveries")
            # The victim is the engine holding the most messages, but not the
            # campaign's fan-out job: that job's own (2 minute) lease would only
            # slow this test down.
            fanning = _fanout_owner(services)
            held = {e.pid: _leased_by(services, e.pid) for e in engines if e.pid != fanning}
            victim = next(e for e in engines if e.pid == max(held, key=held.__getitem__))
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            received_at_kill = sandbox.store.count()
            # What the dead engine held, result not committed: its leased rows.
            in_flight = _leased_by(services, victim.pid)
            survivors = [e for e in engines if e is not victim]
            _wait(
                lambda: (
                    _fanned_out(services, tenant.tenant.id, campaign_id)
                    and _spooled(services) == 0
                    and all(e.poll() is None for e in survivors)
                ),
                240,
                "the two other engines to finish",
            )
        finally:
            for engine in engines:
                if engine.poll() is None:
                    engine.send_signal(signal.SIGTERM)
            errors = [e.communicate(timeout=60)[1].decode(errors="replace") for e in engines]
        per_rcpt = Counter(sandbox.store.all_recipients())
    lost = [p for p in people if per_rcpt[p] == 0]
    duplicates = sum(n - 1 for n in per_rcpt.values() if n > 1)
    print(
        f"\n{ENGINES} engines, {RECIPIENTS} recipients; killed the one holding {in_flight}"
        f" messages after {received_at_kill} were received; duplicates {duplicates}, lost"
        f" {len(lost)}"
    )
    assert all(e.returncode == 0 for e in survivors), errors
    assert in_flight > 0, "the engine killed held nothing: not a kill mid-delivery"
    assert lost == []
    assert duplicates <= in_flight


def _wait(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _fanned_out(services: Services, tenant_id: str, campaign_id: str) -> bool:
    with services.storage.tenant(tenant_id)() as session:
        status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    return status is CampaignStatus.SENT


def _fanout_owner(services: Services) -> int | None:
    # A scheduler's lease owner is "scheduler@<host>:<pid>:<random>" (services._owner).
    with services.storage.control() as session:
        owner = session.scalar(
            select(FanoutJob.lease_owner).where(FanoutJob.lease_owner.is_not(None))
        )
    return int(owner.split(":")[1]) if owner else None


def _leased_by(services: Services, pid: int) -> int:
    # A worker's lease owner is "worker@<host>:<pid>:<random>" (services._owner).
    with services.spool.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(SpoolMessage)
                .where(
                    SpoolMessage.state == SpoolState.LEASED,
                    SpoolMessage.lease_owner.like(f"worker@%:{pid}:%"),
                )
            )
            or 0
        )


def _spooled(services: Services) -> int:
    with services.spool.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(SpoolMessage)) or 0)
