"""Transactional sending through the Send API v3.1, end to end, and its priority lane.

Processes as in production: the HTTP API (uvicorn, one process), the
delivery worker (one process), the sandbox internet (the receiving side),
and this process as the client (HTTP/1.1 keep-alive, a few connections).

Figures:
- accepted_per_s: messages answered "success" by ``POST /v3.1/send`` (50
  messages a request, each to one recipient, with variables), divided by
  the time from the first request to the last answer;
- messages_per_s: the same messages end to end: from the first request to
  the last one received by the sandbox internet (composed, DKIM-signed,
  spooled, claimed, delivered over SMTP);
- p99_s (p50_s, max_s): for single transactional messages sent one at a
  time while a campaign of ``--campaign-recipients`` messages (100,000 by
  default) is being delivered by the same worker, the time from the API's
  answer to the sandbox's receipt of the message (the priority lane);
- campaign_delivered_during_probes: how many campaign messages were
  delivered meanwhile (the campaign was really being sent);
- api_cpu_ms_per_message, worker_cpu_ms_per_message,
  sandbox_cpu_ms_per_message: CPU per message of each process during the
  throughput phase, and bound_messages_per_s = cores / (api + worker): what
  the cores could do running only our stages (the machine is shared and
  noisy; this figure does not depend on its load).

Run: MALLOC_ARENA_MAX=2 .venv/bin/python bench/send_api.py [--messages 20000]
     [--campaign-recipients 100000] [--probes 200]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import os
import signal
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from common import peak_rss_mb, report
from courriel.config import Settings
from courriel.config.profiles import ThrottleProfile, default_profiles
from courriel.core.ids import new_id
from courriel.core.principal import Principal
from courriel.delivery.models import SpoolMessage
from courriel.delivery.spool import NewMessage
from courriel.delivery.verp import encode_return_path
from courriel.sandbox.server import run_sandbox
from courriel.sandbox.store import MailStore, store_path
from courriel.services import Services

PER_REQUEST = 50
CLIENTS = 4
DOMAIN = "shop.test"
RECIPIENT_DOMAINS = ["gmail.test", "yahoo.test", "outlook.test", "example.test"]


def bench_settings(data_dir: Path, port: int) -> Settings:
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
        http_port=port,
        log_level="WARNING",
    )


def run_http(data_dir: Path, port: int) -> None:
    """The HTTP API in its own process (as `courriel serve` runs it)."""
    import uvicorn  # noqa: PLC0415 - only in the child process

    from courriel.web.app import create_app  # noqa: PLC0415

    services = Services.build(bench_settings(data_dir, port))
    uvicorn.run(create_app(services), host="127.0.0.1", port=port, log_level="warning")


def run_worker(data_dir: Path, port: int) -> None:
    """The delivery worker in its own process, until SIGTERM."""
    services = Services.build(bench_settings(data_dir, port))

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await services.worker().run(stop)

    asyncio.run(main())


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks: int = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _message(index: int, prefix: str) -> dict[str, Any]:
    domain = RECIPIENT_DOMAINS[index % len(RECIPIENT_DOMAINS)]
    return {
        "From": {"Email": f"orders@{DOMAIN}", "Name": "Boutique"},
        "To": [{"Email": f"{prefix}{index}@{domain}", "Name": f"Customer {index}"}],
        "Subject": "Order {{var:order}} confirmed",
        "TextPart": "Hello {{var:name}}, your order {{var:order}} ships today.",
        "HTMLPart": "<p>Hello {{var:name}},</p><p>your order <b>{{var:order}}</b> ships today.</p>",
        "TemplateLanguage": True,
        "Variables": {"name": f"Customer {index}", "order": f"A-{index}"},
        "CustomID": f"order-{index}",
    }


def _received(store: MailStore, prefix: str) -> int:
    with store._lock:  # noqa: SLF001 - a read of the simulator's own store
        row = store._db.execute(  # noqa: SLF001
            "SELECT count(*) FROM received WHERE rcpt LIKE ?", (f"{prefix}%",)
        ).fetchone()
    return int(row[0])


def throughput(base: str, auth: tuple[str, str], count: int, store: MailStore) -> dict[str, float]:
    """Post `count` messages, 50 a request, from a few clients; time accepted and delivered."""
    requests = [
        [_message(i, "t") for i in range(start, min(start + PER_REQUEST, count))]
        for start in range(0, count, PER_REQUEST)
    ]
    accepted = [0]
    lock = threading.Lock()

    def client(share: list[list[dict[str, Any]]]) -> None:
        with httpx.Client(base_url=base, auth=auth, timeout=120) as http:
            for messages in share:
                answer = http.post("/v3.1/send", json={"Messages": messages})
                ok = sum(m["Status"] == "success" for m in answer.json()["Messages"])
                with lock:
                    accepted[0] += ok

    shares = [requests[k::CLIENTS] for k in range(CLIENTS)]
    threads = [threading.Thread(target=client, args=(s,)) for s in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answered = time.perf_counter() - started
    while _received(store, "t") < accepted[0]:
        time.sleep(0.05)
    delivered = time.perf_counter() - started
    return {
        "messages": count,
        "accepted": accepted[0],
        "accepted_per_s": round(accepted[0] / answered, 1),
        "messages_per_s": round(accepted[0] / delivered, 1),
        "throughput_seconds": round(delivered, 1),
    }


def spool_campaign(services: Services, tenant_id: str, count: int) -> None:
    """A campaign's messages, already composed, waiting in the spool (priority 0)."""
    now = dt.datetime.now(dt.UTC)
    campaign = new_id("cmp")
    body = (
        "From: news@shop.test\r\nTo: {rcpt}\r\nSubject: Spring sale\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\nMIME-Version: 1.0\r\n\r\n'
        + "Spring is here, and so are our prices.\r\n"
        * 50
    )
    for start in range(0, count, 5000):
        batch = []
        for i in range(start, min(start + 5000, count)):
            rcpt = f"c{i}@{RECIPIENT_DOMAINS[i % len(RECIPIENT_DOMAINS)]}"
            message_id = new_id("msg")
            batch.append(
                NewMessage(
                    tenant_id=tenant_id,
                    message_id=message_id,
                    campaign_id=campaign,
                    contact_id=None,
                    mail_from=encode_return_path(
                        services.secret_key,
                        tenant_id,
                        message_id,
                        services.settings.return_path_domain,
                    ),
                    rcpt_to=rcpt,
                    body=body.format(rcpt=rcpt).encode(),
                )
            )
        services.spool.enqueue(batch, now, dt.timedelta(days=1))


def _finite(seconds: float) -> float | None:
    """Rounded seconds, or None (JSON null) for a probe never received."""
    return None if seconds == float("inf") else round(seconds, 3)


def _receipts(store: MailStore, prefix: str) -> dict[str, dt.datetime]:
    with store._lock:  # noqa: SLF001
        rows = store._db.execute(  # noqa: SLF001
            "SELECT rcpt, received_at FROM received WHERE rcpt LIKE ?", (f"{prefix}%",)
        ).fetchall()
    return {rcpt: dt.datetime.fromisoformat(at) for rcpt, at in rows}


def latency(
    base: str, auth: tuple[str, str], services: Services, store: MailStore, probes: int
) -> dict[str, float | None]:
    """Single messages while the campaign is delivered: answer → receipt, per message."""
    answered: dict[str, dt.datetime] = {}
    campaign_before = _received(store, "c")
    with httpx.Client(base_url=base, auth=auth, timeout=60) as http:
        for i in range(probes):
            message = _message(i, "p")
            answer = http.post("/v3.1/send", json={"Messages": [message]})
            assert answer.json()["Messages"][0]["Status"] == "success", answer.text
            answered[message["To"][0]["Email"]] = dt.datetime.now(dt.UTC)
            time.sleep(0.1)
    deadline = time.monotonic() + 120
    while len(_receipts(store, "p")) < probes and time.monotonic() < deadline:
        time.sleep(0.1)
    received = _receipts(store, "p")
    delays = sorted(
        max((received[rcpt] - at).total_seconds(), 0.0)
        for rcpt, at in answered.items()
        if rcpt in received
    )
    with services.storage.spool() as session:
        waiting = session.scalar(select(func.count()).select_from(SpoolMessage)) or 0
    lost = probes - len(delays)
    # A probe never received counts as the worst case.
    delays.extend([float("inf")] * lost)
    return {
        "probes": probes,
        "probes_lost": lost,
        "p50_s": round(statistics.median(delays), 3),
        "p99_s": _finite(delays[min(len(delays) - 1, int(len(delays) * 0.99))]),
        # JSON has no infinity: a lost probe makes the maximum unknown (null).
        "max_s": round(delays[-1], 3) if not lost else None,
        "campaign_delivered_during_probes": _received(store, "c") - campaign_before,
        "campaign_still_spooled_after_probes": int(waiting),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--campaign-recipients", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=200)
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="courriel-bench-") as tmp:
        data_dir = Path(tmp)
        port = _free_port()
        sandbox = spawn.Process(
            target=run_sandbox, args=(data_dir,), kwargs={"store_bodies": False}, daemon=True
        )
        sandbox.start()
        while not (data_dir / "sandbox" / "zone.json").exists():
            time.sleep(0.05)
        services = Services.build(bench_settings(data_dir, port))
        services.tenants.migrate_shared()
        tenant = services.tenants.create("Bench")
        operator = Principal.operator(tenant.id)
        key = services.api_keys.create(operator, "bench")
        services.dkim_keys.rotate(operator, DOMAIN)
        auth = (key.id, key.secret)
        http = spawn.Process(target=run_http, args=(data_dir, port), daemon=True)
        worker = spawn.Process(target=run_worker, args=(data_dir, port), daemon=True)
        http.start()
        worker.start()
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        store = MailStore(store_path(data_dir))
        pids = {"api": http.pid, "worker": worker.pid, "sandbox": sandbox.pid}
        before = {name: process_cpu_s(pid) for name, pid in pids.items() if pid}
        figures: dict[str, Any] = throughput(base, auth, args.messages, store)
        for name, pid in pids.items():
            if pid:
                used = process_cpu_s(pid) - before[name]
                figures[f"{name}_cpu_ms_per_message"] = round(used / args.messages * 1000, 3)
        stages = figures["api_cpu_ms_per_message"] + figures["worker_cpu_ms_per_message"]
        cores = len(os.sched_getaffinity(0))
        figures["bound_messages_per_s"] = round(cores / stages * 1000, 1)
        print(f"throughput: {figures}", flush=True)
        spool_campaign(services, tenant.id, args.campaign_recipients)
        # The worker is busy with the campaign before the first probe.
        while _received(store, "c") < min(2000, args.campaign_recipients // 10):
            time.sleep(0.05)
        figures.update(latency(base, auth, services, store, args.probes))
        figures["campaign_recipients"] = args.campaign_recipients
        figures["bench_client_rss_mb"] = peak_rss_mb()
        for process in (worker, http, sandbox):
            process.terminate()
            process.join(30)
        store.close()
        services.close()
    report("send_api", figures)


if __name__ == "__main__":
    main()
