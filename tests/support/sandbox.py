"""The sandbox internet for synchronous tests, and the return-path server it reports to."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from courriel.config import Settings
from courriel.relay.inbound import ReturnPathServer
from courriel.sandbox.providers import DEFAULT_PROVIDERS, Provider
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from courriel.tracking.bounces import ReturnProcessor

T = TypeVar("T")
START_S = 10
SETTLE_S = 60


class SandboxThread:
    """The sandbox internet on its own event loop in a thread, for sync tests."""

    def __init__(self, data_dir: Path, providers: Sequence[Provider] = DEFAULT_PROVIDERS) -> None:
        self.sandbox = Sandbox(data_dir, providers=providers)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = SETTLE_S) -> T:
        """Run `coroutine` on the sandbox's own loop, where its servers live."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def __enter__(self) -> Sandbox:
        self._thread.start()
        self.run(self.sandbox.start(), START_S)
        return self.sandbox

    def __exit__(self, *_exc: object) -> None:
        self.run(self.sandbox.stop(), START_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_S)
        self._loop.close()


@dataclass(frozen=True)
class Internet:
    """The sandbox internet, sending its reports (DSNs, ARF complaints, trap hits)
    to Courriel's return-path SMTP server at `return_path`."""

    thread: SandboxThread
    sandbox: Sandbox
    return_path: tuple[str, int]

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the sandbox's loop."""
        return self.thread.run(coroutine)

    def settle(self) -> None:
        """Wait (with a deadline) until every simulated reaction so far is done."""
        self.run(self.sandbox.recipients.drain())


@pytest.fixture
def sandbox(settings: Settings) -> Iterator[Sandbox]:
    """The sandbox internet, its zone in the test's data directory."""
    with SandboxThread(Path(settings.data_dir)) as running:
        yield running


@pytest.fixture
def internet(services: Services, settings: Settings) -> Iterator[Internet]:
    """The sandbox internet, reporting to a return-path server of `services`."""
    thread = SandboxThread(Path(settings.data_dir))
    with thread as sandbox:
        processor = ReturnProcessor(services.storage, services.clock, services.secret_key)
        server = ReturnPathServer(processor, "127.0.0.1", 0, services.mailto_unsubscribes)
        address = thread.run(server.start())
        sandbox.recipients.return_to = address
        try:
            yield Internet(thread, sandbox, address)
        finally:
            thread.run(server.stop())
