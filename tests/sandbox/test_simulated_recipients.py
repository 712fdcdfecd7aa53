"""Simulated recipients open, click and unsubscribe (RFC 8058) by reading the
message they received and calling its URLs over HTTP, at the rates set."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import aiosmtplib
import pytest

from courriel.sandbox.behaviour import chosen
from courriel.sandbox.server import Sandbox

if TYPE_CHECKING:
    from pathlib import Path

SEEN: list[tuple[str, str, bytes]] = []


class Tracker(BaseHTTPRequestHandler):
    """Stands in for Courriel's tracking endpoints: records what it is asked."""

    def do_GET(self) -> None:
        SEEN.append(("GET", self.path, b""))
        self.send_response(200)
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        SEEN.append(("POST", self.path, self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def tracker() -> Iterator[str]:
    SEEN.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Tracker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def message(base: str, rcpt: str) -> bytes:
    return (
        f"From: news@shop.test\r\nTo: {rcpt}\r\nSubject: Sale\r\n"
        f"List-Unsubscribe: <{base}/u/tok-{rcpt}>, <mailto:u@shop.test>\r\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f'<p><a href="{base}/t/c/click-{rcpt}">Shop</a></p>'
        f'<img src="{base}/t/o/open-{rcpt}.gif" width="1" height="1">\r\n'
    ).encode()


def test_recipients_act_at_the_configured_rates(tmp_path: Path, tracker: str) -> None:
    people = [f"p{n}@gmail.test" for n in range(200)]

    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            sandbox.behaviours["google"].configure(
                open_rate=0.5, click_rate=0.25, unsubscribe_rate=0.1
            )
            ip, port = sandbox.zone.hosts["mx.google.test"]
            async with aiosmtplib.SMTP(hostname=ip, port=port) as client:
                for rcpt in people:
                    await client.sendmail("b.x@bounces.test", [rcpt], message(tracker, rcpt))
            await sandbox.recipients.drain()

    asyncio.run(scenario())
    opens = {p for p in people if chosen(p, "open", 0.5)}
    clicks = {p for p in people if chosen(p, "click", 0.25)}
    unsubscribes = {p for p in people if chosen(p, "unsubscribe", 0.1)}
    # About the rates asked for (the choice is a hash of the address).
    for chosen_ones, rate in ((opens, 0.5), (clicks, 0.25), (unsubscribes, 0.1)):
        assert abs(len(chosen_ones) - rate * len(people)) <= rate * len(people) * 0.5
    assert {path for verb, path, _ in SEEN if path.startswith("/t/o/")} == {
        f"/t/o/open-{p}.gif" for p in opens
    }
    assert {path for verb, path, _ in SEEN if path.startswith("/t/c/")} == {
        f"/t/c/click-{p}" for p in clicks
    }
    posts = [(path, body) for verb, path, body in SEEN if verb == "POST"]
    # RFC 8058 §3.1: a POST to the HTTPS(S) URL with exactly this body.
    assert sorted(posts) == sorted(
        (f"/u/tok-{p}", b"List-Unsubscribe=One-Click") for p in unsubscribes
    )


def test_prefixed_recipients_always_act(tmp_path: Path, tracker: str) -> None:
    # No rates set: only the local part decides (`click-`, `unsubscribe-`, `open-`).
    people = ["click-ann@gmail.test", "unsubscribe-bob@gmail.test", "open-cy@gmail.test"]
    people.append("dee@gmail.test")

    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            ip, port = sandbox.zone.hosts["mx.google.test"]
            async with aiosmtplib.SMTP(hostname=ip, port=port) as client:
                for rcpt in people:
                    await client.sendmail("b.x@bounces.test", [rcpt], message(tracker, rcpt))
            await sandbox.recipients.drain()

    asyncio.run(scenario())
    assert sorted((verb, path) for verb, path, _ in SEEN) == [
        ("GET", "/t/c/click-click-ann@gmail.test"),
        ("GET", "/t/o/open-open-cy@gmail.test.gif"),
        ("POST", "/u/tok-unsubscribe-bob@gmail.test"),
    ]
