"""Click redirects per second against a real `courriel serve`, with wrk.

Seeds a tenant with a campaign whose template has a stored link, starts
`courriel serve` on a free port with a temporary data directory, drives
`GET /t/c/{token}` with wrk (Debian's /usr/bin/wrk), then checks that every
click answered became a durable event, and how long after the last answer.
The same run measures a "floor": the cheapest possible redirect on the same
HTTP server (uvicorn, httptools, uvloop, one process). On a shared machine
the wall-clock rates are noisy; the CPU time the server processes spent per
request (utime + stime from /proc, before and after wrk) is not, so both are
printed, for the clicks and for the floor. Also times reading the statistics
of a 1,000,000-recipient campaign.

    .venv/bin/python bench/tracking.py [--seconds 10] [--connections 64] [--workers 1]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import func, insert, select

from common import report, timed
from courriel.audience.models import Contact
from courriel.campaigns.models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    MailClass,
    RecipientState,
)
from courriel.config import Settings
from courriel.content.links import click_token
from courriel.content.models import Template, TemplateLink, TemplateVersion
from courriel.core.db import transaction
from courriel.core.ids import new_id
from courriel.core.principal import Principal
from courriel.events.models import CampaignCounter, Event, EventType, StatCounter
from courriel.services import Services

SECRET = "bench-secret-key-0123456789abcdef"
TARGET = "https://shop.example/spring?utm_source=courriel"
BIG_CAMPAIGN = 1_000_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _campaign(services: Services, tenant_id: str, name: str) -> str:
    now = dt.datetime.now(dt.UTC)
    with transaction(services.storage.tenant(tenant_id)) as session:
        template = Template(id=new_id("tpl"), name=name, created_at=now)
        session.add(template)
        session.flush()
        version = TemplateVersion(
            id=new_id("tv"),
            template_id=template.id,
            version=1,
            subject=name,
            html=f'<a href="{TARGET}">shop</a>',
            created_at=now,
        )
        session.add(version)
        session.flush()
        session.add(TemplateLink(template_version_id=version.id, position=0, url=TARGET))
        campaign = Campaign(
            id=new_id("cmp"),
            name=name,
            status=CampaignStatus.SENT,
            mail_class=MailClass.MARKETING,
            template_version_id=version.id,
            from_email="news@shop.example",
            created_at=now,
        )
        session.add(campaign)
    return campaign.id


def seed_click(services: Services, messages: int = 1) -> tuple[str, str, list[str]]:
    """A tenant, a campaign with a stored link, `messages` recipients; their click tokens."""
    tenant = services.tenants.create("Bench shop")
    campaign_id = _campaign(services, tenant.id, "Spring")
    now = dt.datetime.now(dt.UTC)
    contacts = [
        {
            "id": f"con_bench{n:019d}",
            "email": f"reader{n}@gmail.test",
            "email_domain": "gmail.test",
            "created_at": now,
            "updated_at": now,
        }
        for n in range(messages)
    ]
    recipients = [
        {
            "id": f"msg_bench{n:019d}",
            "campaign_id": campaign_id,
            "contact_id": contact["id"],
            "state": RecipientState.QUEUED,
            "reason": "",
            "created_at": now,
        }
        for n, contact in enumerate(contacts)
    ]
    with transaction(services.storage.tenant(tenant.id)) as session:
        session.execute(insert(Contact), contacts)
        session.execute(insert(CampaignRecipient), recipients)
    tokens = [
        click_token(services.secret_key, tenant.id, f"msg_bench{n:019d}", 0)
        for n in range(messages)
    ]
    return tenant.id, campaign_id, tokens


# wrk thread script: request the click paths in turn (each thread from its own
# place in the list), so that most clicks are the first of their message.
_ROTATE_LUA = """
local paths = {}
for line in io.lines(os.getenv("COURRIEL_BENCH_PATHS")) do paths[#paths + 1] = line end
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("offset", threads * 7919)
end
function init(args) n = offset end
function request()
  n = n + 1
  return wrk.format("GET", paths[n % #paths + 1])
end
"""


def seed_big_campaign(services: Services, tenant_id: str) -> str:
    """A campaign with a million recipients and their counters, written in bulk."""
    campaign_id = _campaign(services, tenant_id, "Big")
    now = dt.datetime.now(dt.UTC)
    chunk = 50_000
    for start in range(0, BIG_CAMPAIGN, chunk):
        with transaction(services.storage.tenant(tenant_id)) as session:
            session.execute(
                insert(CampaignRecipient),
                [
                    {
                        "id": f"msg_big{n:019d}",
                        "campaign_id": campaign_id,
                        "contact_id": None,
                        "state": RecipientState.QUEUED,
                        "reason": "",
                        "created_at": now,
                    }
                    for n in range(start, min(start + chunk, BIG_CAMPAIGN))
                ],
            )
    figures = {"queued": BIG_CAMPAIGN, "delivered": 970_000, "bounced": 30_000}
    figures |= {"opens": 800_000, "unique_opens": 450_000, "clicks": 120_000}
    with transaction(services.storage.tenant(tenant_id)) as session:
        for kind in (EventType.QUEUED, EventType.DELIVERED, EventType.BOUNCED):
            count = figures[kind.value]
            session.add(CampaignCounter(campaign_id=campaign_id, type=kind, count=count))
        for metric, count in figures.items():
            session.add(
                StatCounter(
                    campaign_id=campaign_id, dimension="all", key="", metric=metric, count=count
                )
            )
    return campaign_id


def stats_read_ms(services: Services, tenant_id: str, campaign_id: str) -> float:
    """Best of 20 reads of a campaign's statistics, in milliseconds."""
    operator = Principal.operator(tenant_id)
    best = float("inf")
    for _ in range(20):
        with timed() as elapsed:
            stats = services.stats.campaign(operator, campaign_id)
        assert stats.recipients == BIG_CAMPAIGN, stats.recipients
        best = min(best, elapsed[0])
    return round(best * 1000, 2)


def wait_ready(base: str, process: subprocess.Popen[bytes], path: str = "/healthz") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"courriel serve exited with {process.returncode}")
        try:
            with urllib.request.build_opener(_NoRedirect).open(f"{base}{path}", timeout=1):
                return
        except urllib.error.HTTPError:
            return  # answering at all (a 302 from the floor server) is ready
        except OSError:
            time.sleep(0.2)
    raise SystemExit("courriel serve did not become ready")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


def check_redirect(url: str) -> None:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(url, timeout=5)
    except urllib.error.HTTPError as exc:
        if exc.code == 302 and exc.headers["Location"] == TARGET:
            return
        raise
    raise SystemExit("the click did not redirect")


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found.extend(_descendants(int(child)))
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its descendants (the HTTP helper processes)."""
    total = 0
    for each in _descendants(pid):
        with contextlib.suppress(OSError):
            # Fields after the command name (which may hold spaces): utime, stime are 14, 15.
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_wrk_measured(
    url: str, seconds: int, connections: int, pid: int, script: Path | None = None
) -> tuple[float, int, float]:
    """wrk's rate and request count, and the server's CPU microseconds per request."""
    before = cpu_seconds(pid)
    rate, total = run_wrk(url, seconds, connections, script)
    used = cpu_seconds(pid) - before
    return rate, total, used / max(total, 1) * 1e6


def run_wrk(
    url: str, seconds: int, connections: int, script: Path | None = None
) -> tuple[float, int]:
    command = ["/usr/bin/wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rate is None or total is None or "Non-2xx" in out:
        raise SystemExit(f"unexpected wrk output:\n{out}")
    return float(rate.group(1)), int(total.group(1))


def clicks_recorded(services: Services, tenant_id: str) -> int:
    with services.storage.tenant(tenant_id)() as session:
        count = session.scalar(
            select(func.count()).select_from(Event).where(Event.type == EventType.CLICKED)
        )
    return int(count or 0)


async def floor_app(scope: dict[str, Any], _receive: Any, send: Any) -> None:
    """The cheapest possible redirect on the same HTTP server: the bound we compare with."""
    if scope["type"] != "http":
        return
    headers = [(b"location", TARGET.encode()), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 302, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def floor_rate(seconds: int, connections: int) -> tuple[float, float]:
    """Redirects per second of `floor_app` (one process) and its CPU µs per request."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, __file__, "--floor-server", str(port)])
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, path="/")
        rate, _total, cpu_us = run_wrk_measured(
            f"http://127.0.0.1:{port}/t/c/x", seconds, connections, process.pid
        )
        return rate, cpu_us
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--floor-server":
        # Configured as `courriel serve` configures uvicorn (engine/runtime.py).
        uvicorn.run(
            floor_app,
            port=int(sys.argv[2]),
            http="httptools",
            loop="uvloop",
            log_level="warning",
            access_log=False,
        )
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="courriel serve --workers")
    parser.add_argument("--skip-big", action="store_true", help="skip the 1M-recipient stats")
    parser.add_argument(
        "--messages",
        type=int,
        default=1,
        help="recipients whose click URLs wrk requests in turn (1: every click hits the "
        "cached target; more: the first click of each message reads the database)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="courriel-bench-") as tmp:
        port = _free_port()
        env = {
            **os.environ,
            "COURRIEL_DATA_DIR": str(Path(tmp) / "data"),
            "COURRIEL_SECRET_KEY": SECRET,
            "COURRIEL_HTTP_PORT": str(port),
            "COURRIEL_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "COURRIEL_LOG_LEVEL": "WARNING",
        }
        settings = Settings(data_dir=Path(tmp) / "data", secret_key=SECRET)
        services = Services.build(settings)
        services.tenants.migrate_shared()
        tenant_id, _campaign_id, tokens = seed_click(services, args.messages)
        script = None
        if args.messages > 1:
            paths = Path(tmp) / "paths.txt"
            paths.write_text("".join(f"/t/c/{token}\n" for token in tokens))
            script = Path(tmp) / "rotate.lua"
            script.write_text(_ROTATE_LUA)
            os.environ["COURRIEL_BENCH_PATHS"] = str(paths)
        base = f"http://127.0.0.1:{port}"
        courriel = Path(sys.executable).with_name("courriel")
        command = [str(courriel), "serve", "--workers", str(args.workers)]
        process = subprocess.Popen(command, env=env)
        try:
            wait_ready(base, process)
            url = f"{base}/t/c/{tokens[0]}"
            check_redirect(url)
            rate, total, cpu_us = run_wrk_measured(
                url, args.seconds, args.connections, process.pid, script
            )
            finished = time.monotonic()
            lag = None
            while time.monotonic() - finished < 10:
                if clicks_recorded(services, tenant_id) >= total + 1:
                    lag = time.monotonic() - finished
                    break
                time.sleep(0.02)
        finally:
            process.terminate()
            process.wait(30)
        recorded = clicks_recorded(services, tenant_id)
        floor, floor_cpu_us = floor_rate(args.seconds, args.connections)
        figures: dict[str, float | int] = {
            "http_workers": args.workers,
            "load_average_1m": round(os.getloadavg()[0], 2),
            "floor_requests_per_s": round(floor),
            "floor_cpu_us_per_request": round(floor_cpu_us, 1),
            "cpu_us_per_request": round(cpu_us, 1),
            "cpu_ratio_to_floor": round(cpu_us / floor_cpu_us, 2),
            "ratio_to_floor": round(rate / floor, 2),
            "requests_per_s": round(rate),
            "clicks_answered": total + 1,
            "click_events_recorded": recorded,
            # wrk stops with requests in flight: the server may record a few more.
            "clicks_lost": max(0, total + 1 - recorded),
            "messages": args.messages,
            "events_durable_after_s": round(lag, 3) if lag is not None else -1,
        }
        if not args.skip_big:
            big = seed_big_campaign(services, tenant_id)
            figures["stats_read_1m_recipients_ms"] = stats_read_ms(services, tenant_id, big)
        services.close()
    report("tracking: click redirects with wrk against courriel serve", figures)


if __name__ == "__main__":
    main()
