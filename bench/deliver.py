"""End-to-end delivery: compose, sign, spool, deliver over SMTP, report.

A campaign of N personalized messages (a ~10 KB MJML template with the
contact's name, city, points and orders, tracked links and pixel, MIME,
DKIM RSA-2048 from the content composer) goes to the sandbox internet:
50 domains of 4 providers (`with_extra_domains`), each provider its own
lane. Processes as in production: composers (fan-out's compose and spool
step; one per core, each composing its share, waiting as the fan-out does
while the spool is at its high-water mark), the delivery worker (this
process: claims, lanes, SMTP, group-committed results, delivered events in
the tenant database), and the sandbox internet (the receiving side, not
counted in the bound).

Figures:
- messages_per_s: N / (composers ready -> last delivered event), end to end:
  from the moment every composer process is started and holds its key (a
  running scheduler receiving Send), through compiling the template,
  composing, spooling and delivering, to the last delivered event recorded;
- bound_messages_per_s: the sum-of-stages CPU bound measured in the same
  run: cores / (compose CPU per message (render + MIME + sign) + worker CPU
  per message (SMTP client, spool, reporting)), i.e. what the cores could do
  running nothing but our stages;
- per stage, CPU ms per message: compose; the worker's event loop (SMTP
  client, lanes, pacing), its reporting (delivered events) and the rest of
  its database work (spool claims and results, lane throttles); and the
  sandbox's receiving side (outside the bound, but on the same cores);
- peak_rss_mb: the largest peak RSS of the composers and the worker.

Run: MALLOC_ARENA_MAX=2 .venv/bin/python bench/deliver.py [--recipients 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from common import peak_rss_mb, report
from compose import template_source
from courriel.config import Settings
from courriel.config.profiles import ThrottleProfile, default_profiles
from courriel.content import dkim
from courriel.content.compose import Composer, Recipient, SendContext, Sender, contact_context
from courriel.content.models import DkimAlgorithm
from courriel.content.service import TemplateContent, build_version
from courriel.delivery.models import SpoolMessage
from courriel.delivery.spool import NewMessage
from courriel.delivery.verp import encode_return_path
from courriel.events.models import Event, EventType
from courriel.sandbox.providers import with_extra_domains
from courriel.sandbox.server import run_sandbox
from courriel.services import Services

BATCH = 500
PROVIDERS = with_extra_domains(13)
DOMAINS = [d for p in PROVIDERS for d in p.domains if d.startswith("d")][:50]


def bench_settings(data_dir: Path) -> Settings:
    # Generous limits: the sandbox does not throttle, the benchmark measures us.
    profiles: dict[str, ThrottleProfile] = {
        name: p.model_copy(
            update={
                "max_connections": 8,
                "messages_per_connection": 1000,
                "messages_per_minute": 6_000_000,
                "messages_per_hour": 360_000_000,
            }
        )
        for name, p in default_profiles().items()
    }
    return Settings(
        data_dir=data_dir,
        resolver="sandbox",
        throttle_profiles=profiles,
        worker_batch_size=1000,
        lane_max_connections=8,
        worker_poll_seconds=0.2,
        # Five of the worker's batches: enough that it never waits for work.
        spool_high_water=5000,
        log_level="WARNING",
    )


def run_composer(
    data_dir: Path,
    tenant_id: str,
    count: int,
    share: int,
    shares: int,
    result: Any,
    ready: Any,
) -> None:
    """A composer process: compose, sign and spool its share of `count` messages.

    It waits at ``ready`` (a barrier with the main process) once it is what a
    running scheduler is before a Send: started, the application imported,
    the sender's key at hand; compiling the campaign's template comes after.
    """
    settings = bench_settings(data_dir)
    services = Services.build(settings)
    algorithm = DkimAlgorithm.RSA_SHA256
    key = dkim.generate_private_key(algorithm)
    ready.wait()
    now = dt.datetime.now(dt.UTC)
    version, _links = build_version(
        "tpl_bench",
        1,
        TemplateContent(
            subject="{{ contact.first_name }}, your {{ campaign.name }}",
            mjml=template_source(10_000),
        ),
        now,
    )
    signer = dkim.DkimSigner("shop.test", "r1", algorithm, key)
    composer = Composer(
        version,
        Sender(
            email="news@shop.test",
            name="Shop",
            return_path_domain=settings.return_path_domain,
        ),
        SendContext(
            tenant_id=tenant_id,
            public_url=settings.public_url,
            secret_key=services.secret_key,
            campaign_id=None,
            campaign={"name": "Spring sale"},
            mailing_list={"name": "News"},
        ),
        [signer],
    )
    orders = [{"number": 1000 + i, "total": 19.9 * (i + 1), "date": "2026-10-01"} for i in range(3)]
    compose_cpu = 0.0
    began = time.perf_counter()
    lifetime = dt.timedelta(hours=settings.queue_lifetime_hours)
    mine = range(share, count, shares)
    high_water = settings.spool_high_water
    for start in range(0, len(mine), BATCH):
        # The fan-out's backpressure (campaigns/pacing.py): no batch while the
        # spool holds `spool_high_water` messages due or in flight.
        while high_water is not None and services.spool.backlog(dt.datetime.now(dt.UTC)) >= (
            high_water
        ):
            time.sleep(0.05)
        batch: list[NewMessage] = []
        cpu = time.process_time()
        for n in mine[start : start + BATCH]:
            email = f"person{n}@{DOMAINS[n % len(DOMAINS)]}"
            message_id = f"msg_{n:026d}"
            composed = composer.compose(
                Recipient(
                    message_id=message_id,
                    email=email,
                    name=f"Person {n}",
                    contact=contact_context(
                        {"email": email, "first_name": f"Zoë{n}", "last_name": "M"},
                        {"city": "Lyon", "points": n, "since": "2021-05-04", "orders": orders},
                        {},
                    ),
                    language="fr",
                ),
                now,
            )
            batch.append(
                NewMessage(
                    tenant_id=tenant_id,
                    message_id=message_id,
                    campaign_id=None,
                    contact_id=None,
                    mail_from=encode_return_path(
                        services.secret_key, tenant_id, message_id, settings.return_path_domain
                    ),
                    rcpt_to=email,
                    body=composed,
                    transfer_ready=True,
                )
            )
        compose_cpu += time.process_time() - cpu
        services.spool.enqueue(batch, dt.datetime.now(dt.UTC), lifetime)
    services.close()
    print(f"composer {share} done: {len(mine)} in {time.perf_counter() - began:.1f} s", flush=True)
    result[f"compose_cpu_s_{share}"] = compose_cpu
    result[f"composer_rss_mb_{share}"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks: int = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class Stopwatch:
    """CPU seconds spent in wrapped calls, in whichever thread they run."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.thread_time() - start

        return timed


def _delivered(services: Services, tenant_id: str) -> int:
    with services.storage.tenant(tenant_id)() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Event).where(Event.type == EventType.DELIVERED)
            )
            or 0
        )


def _spooled(services: Services) -> int:
    with services.spool.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(SpoolMessage)) or 0)


async def deliver_all(
    services: Services, tenant_id: str, count: int, polling: Stopwatch | None = None
) -> None:
    """Run a worker until all `count` messages are delivered and reported."""
    worker = services.worker()
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    finished = (polling or Stopwatch()).wrap(
        lambda: _delivered(services, tenant_id) >= count and _spooled(services) == 0
    )
    while True:
        await asyncio.sleep(0.5)
        if finished():
            break
    stop.set()
    await running


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=100_000)
    cores = len(os.sched_getaffinity(0))
    parser.add_argument("--composers", type=int, default=cores)
    args = parser.parse_args()
    count: int = args.recipients
    shares: int = args.composers
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="courriel-bench-") as tmp:
        data_dir = Path(tmp)
        # The receiving side keeps headers only: it shares the cores with the
        # stages measured, and writing every 60 KB message to its store was
        # most of its work.
        sandbox = spawn.Process(
            target=run_sandbox,
            args=(data_dir,),
            kwargs={"providers": PROVIDERS, "store_bodies": False},
            daemon=True,
        )
        sandbox.start()
        zone = data_dir / "sandbox" / "zone.json"
        while not zone.exists():
            time.sleep(0.05)
        assert sandbox.pid is not None
        services = Services.build(bench_settings(data_dir))
        services.tenants.migrate_shared()
        tenant_id = services.tenants.create("Bench").id
        # Reporting's CPU, measured where it runs (a worker thread).
        reporting = Stopwatch()
        reporter = services.reporter
        reporter.report_finished = reporting.wrap(reporter.report_finished)  # type: ignore[method-assign]
        polling = Stopwatch()
        manager = spawn.Manager()
        result = manager.dict()
        ready = spawn.Barrier(shares + 1)
        composers = [
            spawn.Process(
                target=run_composer, args=(data_dir, tenant_id, count, k, shares, result, ready)
            )
            for k in range(shares)
        ]
        for composer in composers:
            composer.start()
        # The clock starts when every composer is ready to compose: as a Send
        # to a running scheduler, not a cold start of Python processes.
        ready.wait()
        sandbox_before = process_cpu_s(sandbox.pid)
        cpu_before, loop_before = time.process_time(), time.thread_time()
        started = time.perf_counter()
        asyncio.run(deliver_all(services, tenant_id, count, polling))
        elapsed = time.perf_counter() - started
        for composer in composers:
            composer.join()
        # This process's CPU, less the benchmark's own polling of the counts.
        worker_cpu = time.process_time() - cpu_before - polling.seconds
        loop_cpu = time.thread_time() - loop_before - polling.seconds
        sandbox_cpu = process_cpu_s(sandbox.pid) - sandbox_before
        composed = dict(result)
        compose_cpu = float(sum(composed[f"compose_cpu_s_{k}"] for k in range(shares)))
        composer_rss = float(max(composed[f"composer_rss_mb_{k}"] for k in range(shares)))
        stage_cpu = (compose_cpu + worker_cpu) / count
        services.close()
        sandbox.terminate()
        manager.shutdown()

    def per_message_ms(seconds: float) -> float:
        return round(seconds / count * 1000, 3)

    report(
        "deliver",
        {
            "recipients": count,
            "composers": shares,
            "seconds": round(elapsed, 1),
            "compose_cpu_ms_per_message": per_message_ms(compose_cpu),
            "worker_cpu_ms_per_message": per_message_ms(worker_cpu),
            "worker_loop_cpu_ms_per_message": per_message_ms(loop_cpu),
            "worker_reporting_cpu_ms_per_message": per_message_ms(reporting.seconds),
            "worker_spool_cpu_ms_per_message": per_message_ms(
                worker_cpu - loop_cpu - reporting.seconds
            ),
            "sandbox_cpu_ms_per_message": per_message_ms(sandbox_cpu),
            "composer_rss_mb": round(composer_rss, 1),
            "worker_rss_mb": peak_rss_mb(),
            "messages_per_s": round(count / elapsed, 1),
            "bound_messages_per_s": round(cores / stage_cpu, 1),
            "peak_rss_mb": round(max(peak_rss_mb(), composer_rss), 1),
        },
    )


if __name__ == "__main__":
    main()
