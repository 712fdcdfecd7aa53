"""Crash test: `kill -9` of a `courriel relay` right after its 250 replies.

Four clients submit over STARTTLS as fast as the relay answers; the process
is killed the moment the 30th 250 arrives. Every message that got a 250 was
committed to the spool before the reply (group commit), so a worker started
afterwards delivers each of them, DKIM-signed. Runs on each backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from courriel.config import Settings
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.relay.conftest import RawClient, Sender, dkim_results
from tests.support.delivery import deliver_all

pytestmark = pytest.mark.slow

KILL_AFTER = 30
CLIENTS = 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _relay(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "COURRIEL_DATA_DIR": str(settings.data_dir),
        "COURRIEL_RESOLVER": "sandbox",
        "COURRIEL_LOG_LEVEL": "WARNING",
    }
    if settings.database_url:
        env["COURRIEL_DATABASE_URL"] = settings.database_url
        env["COURRIEL_DATABASE_PREFIX"] = settings.database_prefix
    courriel = Path(sys.executable).parent / "courriel"
    return subprocess.Popen(
        [str(courriel), "relay", "--port", str(port), "--tls-port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise AssertionError("the relay did not start listening")


async def _submit_until_killed(
    port: int, sender: Sender, process: subprocess.Popen[bytes]
) -> list[str]:
    acknowledged: list[str] = []

    async def client(number: int) -> None:
        session = await RawClient.connect(port)
        await session.command("EHLO client.test")
        await session.starttls()
        await session.command("EHLO client.test")
        assert (await session.login(sender)).startswith("235")
        n = 0
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError):
            while process.returncode is None:
                n += 1
                await session.command("MAIL FROM:<orders@shop-a.test>")
                await session.command(f"RCPT TO:<c{number}-{n}@gmail.test>")
                await session.command("DATA")
                body = f"From: orders@shop-a.test\r\nSubject: order {number}-{n}\r\n\r\nthanks"
                reply = await session.command(body.encode() + b"\r\n.")
                if not reply.startswith("250"):
                    break
                acknowledged.append(reply.rsplit(" ", 1)[-1])
                if len(acknowledged) >= KILL_AFTER and process.returncode is None:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    break

    await asyncio.gather(*(client(n) for n in range(CLIENTS)), return_exceptions=True)
    return acknowledged


def test_kill_9_right_after_250_loses_nothing(
    services: Services, settings: Settings, sandbox: Sandbox, shop_a: Sender
) -> None:
    port = _free_port()
    process = _relay(settings, port)
    try:
        _wait_listening(port, process)
        acknowledged = asyncio.run(_submit_until_killed(port, shop_a, process))
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert len(acknowledged) >= KILL_AFTER
    # A worker started after the crash delivers every acknowledged message.
    deliver_all(services)
    received = {m.mail_from.split(".")[2]: m for m in sandbox.store.recent(1000)}
    missing = [message_id for message_id in acknowledged if message_id not in received]
    assert not missing, f"{len(missing)} acknowledged messages lost"
    sample = received[acknowledged[-1]]
    assert dkim_results(services, shop_a, sample.data) == [True, True]
    print(f"acknowledged {len(acknowledged)} before kill -9, delivered {len(received)}")
