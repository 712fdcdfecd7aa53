"""Clicks through the HTTP server `courriel serve` runs are durable within a second.

The server is the one `courriel serve` starts (`cli.runtime.run_http`: uvicorn
with httptools and uvloop, the click fast path in front), on a real port, in
its own thread and event loop with its own `Services` (its own engines, like
a separate process). What it wrote is read back through a fresh engine.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from courriel.config import Settings
from courriel.engine.runtime import run_http, run_loop
from courriel.events.models import Event, EventType
from courriel.services import Services
from tests.support.http import free_port
from tests.support.seeds.tracking import LINKS, Seeded, seed_campaign
from tests.support.tenants import TenantAccess

BURST = 600


@dataclass
class Server:
    """A running `run_http` and how to stop it."""

    port: int
    services: Services
    stop: asyncio.Event
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread


@pytest.fixture
def server(settings: Settings, services: Services) -> Iterator[Server]:
    # `services` first: the shared databases are migrated before the server starts.
    port = free_port()
    served = Services.build(settings.model_copy(update={"http_port": port}))
    started: dict[str, object] = {}
    ready = threading.Event()

    async def main() -> None:
        stop = asyncio.Event()
        started["stop"], started["loop"] = stop, asyncio.get_running_loop()
        ready.set()
        await run_http(served, stop)

    thread = threading.Thread(target=run_loop, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    stop, loop = started["stop"], started["loop"]
    assert isinstance(stop, asyncio.Event)
    assert isinstance(loop, asyncio.AbstractEventLoop)
    _wait_listening(port)
    yield Server(port, served, stop, loop, thread)
    if thread.is_alive():
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
    served.close()


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.02)
        else:
            return
    raise AssertionError("the HTTP server did not start")


def _get(conn: http.client.HTTPConnection, path: str) -> http.client.HTTPResponse:
    conn.request("GET", path, headers={"User-Agent": "Mozilla/5.0 (X11; Linux) Firefox/140.0"})
    response = conn.getresponse()
    response.read()
    return response


@pytest.fixture
def reader(settings: Settings) -> Iterator[Services]:
    """Fresh engines on the same databases: what another process would read."""
    fresh = Services.build(settings)
    yield fresh
    fresh.close()


def _clicks_in_database(reader: Services, tenant_id: str) -> int:
    with reader.storage.tenant(tenant_id)() as session:
        count = session.scalar(
            select(func.count()).select_from(Event).where(Event.type == EventType.CLICKED)
        )
    return int(count or 0)


def _wait_for_clicks(reader: Services, tenant_id: str, expected: int, seconds: float) -> int:
    """Read until `expected` clicks are stored or `seconds` pass; return the last count."""
    deadline = time.monotonic() + seconds
    count = _clicks_in_database(reader, tenant_id)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.01)
        count = _clicks_in_database(reader, tenant_id)
    return count


@pytest.fixture
def seeded(services: Services, tenant_a: TenantAccess) -> Seeded:
    emails = [f"reader{n}@gmail.test" for n in range(150)]
    return seed_campaign(services, tenant_a, emails)


def test_a_click_is_durable_within_a_second_of_its_redirect(
    server: Server, reader: Services, services: Services, seeded: Seeded
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    response = _get(conn, seeded.click(services, "reader0@gmail.test"))
    answered = time.monotonic()
    conn.close()
    assert response.status == 302
    assert response.getheader("Location") == LINKS[0]
    count = _wait_for_clicks(reader, seeded.tenant.tenant.id, 1, 1.0)
    assert count == 1
    assert time.monotonic() - answered < 1.0


def test_a_burst_of_clicks_loses_none_and_the_statistics_count_each(
    server: Server, reader: Services, services: Services, seeded: Seeded
) -> None:
    emails = sorted(seeded.messages)
    # Links 0 and 2 are stored http(s) URLs; link 1 is `javascript:` (404, no event).
    # Half the clicks are the first of their link: read from the database in
    # batches, each must still be answered with the URL stored for its link.
    clicks = [
        (seeded.click(services, emails[n % len(emails)], link), LINKS[link])
        for n in range(BURST)
        for link in [(n // len(emails)) % 2 * 2]
    ]

    def click_many(part: list[tuple[str, str]]) -> list[tuple[int, str | None, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            answers = []
            for path, expected in part:
                response = _get(conn, path)
                answers.append((response.status, response.getheader("Location"), expected))
            return answers
        finally:
            conn.close()

    with ThreadPoolExecutor(8) as pool:
        parts = pool.map(click_many, [clicks[n::8] for n in range(8)])
        answers = [answer for part in parts for answer in part]
    answered = time.monotonic()
    assert len(answers) == BURST
    assert all(status == 302 and location == url for status, location, url in answers)
    assert _wait_for_clicks(reader, seeded.tenant.tenant.id, BURST, 1.0) == BURST
    assert time.monotonic() - answered < 1.5  # one last read after the deadline is allowed
    stats = services.stats.campaign(seeded.tenant.operator, seeded.campaign_id)
    assert stats.figures["clicks"] == BURST
    assert stats.figures["unique_clicks"] == len(emails)
    links = services.stats.campaign_breakdown(seeded.tenant.operator, seeded.campaign_id, "link")
    assert {(f.position, f.figures["clicks"]) for f in links} == {(0, BURST // 2), (2, BURST // 2)}


def test_clicks_buffered_at_shutdown_are_written_before_the_server_stops(
    server: Server, reader: Services, services: Services, seeded: Seeded
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for email in sorted(seeded.messages)[:5]:
        assert _get(conn, seeded.click(services, email)).status == 302
    conn.close()
    server.loop.call_soon_threadsafe(server.stop.set)
    server.thread.join(30)
    assert _clicks_in_database(reader, seeded.tenant.tenant.id) == 5
