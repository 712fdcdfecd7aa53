"""Starting and stopping the sandbox, as the CLI and the demo do."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TYPE_CHECKING

import aiosmtplib
import pytest

from courriel.sandbox.behaviour import REPLY_LOCAL_ERROR
from courriel.sandbox.server import Sandbox, run_sandbox
from courriel.sandbox.zone import read_zone, zone_path

if TYPE_CHECKING:
    from pathlib import Path

    from courriel.sandbox.zone import Zone


def test_store_and_zone_exist_only_while_running(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    with pytest.raises(RuntimeError, match="not running"):
        _ = sandbox.store

    async def scenario() -> None:
        async with sandbox:
            assert sandbox.store.count() == 0
            with pytest.raises(RuntimeError, match="already running"):
                await sandbox.start()

    asyncio.run(scenario())
    with pytest.raises(RuntimeError, match="not running"):
        _ = sandbox.zone


def test_stop_drops_connections_that_are_still_open(tmp_path: Path) -> None:
    async def scenario() -> None:
        sandbox = Sandbox(tmp_path)
        await sandbox.start()
        ip, port = sandbox.zone.hosts["mx.google.test"]
        reader, writer = await asyncio.open_connection(ip, port)
        assert (await reader.readline()).startswith(b"220 ")
        await asyncio.wait_for(sandbox.stop(), timeout=5)
        assert await reader.read() == b""
        writer.close()
        with pytest.raises(OSError):
            await asyncio.open_connection(ip, port)

    asyncio.run(scenario())


def test_a_failure_of_the_sandbox_itself_is_a_temporary_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            ip, port = sandbox.zone.hosts["mx.google.test"]
            client = aiosmtplib.SMTP(hostname=ip, port=port)
            await client.connect()
            # A closed store makes the DATA hook raise, as a full disk would.
            sandbox.store.close()
            with pytest.raises(aiosmtplib.SMTPDataError) as failed:
                await client.sendmail("a@shop.test", ["b@gmail.test"], b"Subject: x\r\n\r\nx\r\n")
            assert f"{failed.value.code} {failed.value.message}" == REPLY_LOCAL_ERROR
            client.close()

    asyncio.run(scenario())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_run_sandbox_serves_until_sigterm(tmp_path: Path) -> None:
    ready: list[Zone] = []

    def on_ready(zone: Zone) -> None:
        ready.append(zone)
        signal.raise_signal(signal.SIGTERM)

    run_sandbox(tmp_path, on_ready=on_ready)
    assert ready == [read_zone(zone_path(tmp_path))]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
