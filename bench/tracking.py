"""Click redirects per second against a real `courriel serve`, with wrk.

Seeds a tenant with a campaign whose template has a stored link, starts
`courriel serve` on a free port with a temporary data directory, drives
`GET /t/c/{token}` with wrk (Debian's /usr/bin/wrk), then checks that every
click answered became a durable event, and how long after the last answer.
Also times reading the statistics of a 1,000,000-recipient campaign.

    .venv/bin/python bench/tracking.py [--seconds 10] [--connections 64]
"""

from __future__ import annotations

import argparse
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
from courriel.accounts.principal import Principal
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
from courriel.services import Services
from courriel.tracking.models import CampaignCounter, Event, EventType, StatCounter

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


def seed_click(services: Services) -> tuple[str, str, str]:
    """A tenant, a campaign with a stored link, one recipient; return (tenant, campaign, token)."""
    tenant = services.tenants.create("Bench shop")
    campaign_id = _campaign(services, tenant.id, "Spring")
    now = dt.datetime.now(dt.UTC)
    with transaction(services.storage.tenant(tenant.id)) as session:
        contact = Contact(
            id=new_id("con"),
            email="reader@gmail.test",
            email_domain="gmail.test",
            created_at=now,
            updated_at=now,
        )
        session.add(contact)
        session.flush()
        message = CampaignRecipient(
            id=new_id("msg"),
            campaign_id=campaign_id,
            contact_id=contact.id,
            state=RecipientState.QUEUED,
            created_at=now,
        )
        session.add(message)
    return tenant.id, campaign_id, click_token(services.secret_key, tenant.id, message.id, 0)


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


def run_wrk(url: str, seconds: int, connections: int) -> tuple[float, int]:
    out = subprocess.run(
        ["/usr/bin/wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url],
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


def floor_rate(seconds: int, connections: int) -> float:
    """Redirects per second of `floor_app` under uvicorn (one process), measured now."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, __file__, "--floor-server", str(port)])
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, path="/")
        return run_wrk(f"http://127.0.0.1:{port}/t/c/x", seconds, connections)[0]
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--floor-server":
        uvicorn.run(floor_app, port=int(sys.argv[2]), log_level="warning", access_log=False)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="COURRIEL_HTTP_WORKERS")
    parser.add_argument("--skip-big", action="store_true", help="skip the 1M-recipient stats")
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
            "COURRIEL_HTTP_WORKERS": str(args.workers),
        }
        settings = Settings(data_dir=Path(tmp) / "data", secret_key=SECRET)
        services = Services.build(settings)
        services.tenants.migrate_shared()
        tenant_id, _campaign_id, token = seed_click(services)
        base = f"http://127.0.0.1:{port}"
        courriel = Path(sys.executable).with_name("courriel")
        process = subprocess.Popen([str(courriel), "serve"], env=env)
        try:
            wait_ready(base, process)
            url = f"{base}/t/c/{token}"
            check_redirect(url)
            rate, total = run_wrk(url, args.seconds, args.connections)
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
        floor = floor_rate(args.seconds, args.connections)
        figures: dict[str, float | int] = {
            "http_workers": args.workers,
            "floor_requests_per_s": round(floor),
            "ratio_to_floor": round(rate / floor, 2),
            "requests_per_s": round(rate),
            "clicks_answered": total + 1,
            "click_events_recorded": recorded,
            "events_durable_after_s": round(lag, 3) if lag is not None else -1,
        }
        if not args.skip_big:
            big = seed_big_campaign(services, tenant_id)
            figures["stats_read_1m_recipients_ms"] = stats_read_ms(services, tenant_id, big)
        services.close()
    report("tracking: click redirects with wrk against courriel serve", figures)


if __name__ == "__main__":
    main()
