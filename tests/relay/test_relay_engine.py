"""`courriel serve` and `courriel worker` run the engine, which starts the relay
when `relay_enabled` is set, and not otherwise."""

from __future__ import annotations

import asyncio
import socket

import pytest

from courriel.config import Settings
from courriel.engine.runtime import run_engine
from courriel.services import Services


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _greeting(port: int, tries: int) -> bytes | None:
    for _ in range(tries):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        return line
    return None


@pytest.mark.parametrize("enabled", [True, False])
def test_the_engine_starts_the_relay_only_when_enabled(
    services: Services, settings: Settings, enabled: bool
) -> None:
    port = _free_port()
    services.settings = settings.model_copy(
        update={"relay_enabled": enabled, "relay_port": port, "relay_tls_port": 0}
    )

    async def scenario() -> bytes | None:
        stop = asyncio.Event()
        engine = asyncio.create_task(run_engine(services, stop))
        greeting = await _greeting(port, 200 if enabled else 20)
        stop.set()
        await asyncio.wait_for(engine, 30)
        return greeting

    greeting = asyncio.run(scenario())
    if enabled:
        assert greeting is not None
        assert greeting.startswith(b"220 ")
    else:
        assert greeting is None
