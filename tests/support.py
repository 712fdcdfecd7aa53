"""Helpers shared by the tests (importable as `support`: tests/ is on pythonpath)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from courriel.core.models import Tenant
from courriel.core.principal import Principal
from courriel.sandbox.providers import DEFAULT_PROVIDERS, Provider
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from courriel.web.app import create_app


@dataclass(frozen=True)
class TenantAccess:
    """A tenant with an all-capability API key."""

    tenant: Tenant
    key: str
    operator: Principal

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_tenant(services: Services, name: str) -> TenantAccess:
    tenant = services.tenants.create(name)
    operator = Principal.operator(tenant.id)
    key = services.api_keys.create(operator, "test key")
    return TenantAccess(tenant=tenant, key=key.secret, operator=operator)


class SandboxThread:
    """The sandbox internet on its own event loop in a thread, for sync tests."""

    def __init__(self, data_dir: Path, providers: Sequence[Provider] = DEFAULT_PROVIDERS) -> None:
        self.sandbox = Sandbox(data_dir, providers=providers)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Sandbox:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.sandbox.start(), self._loop).result(10)
        return self.sandbox

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sandbox.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


# Debian's chromium as Playwright drives it in the browser tests (it never
# downloads a browser of its own).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
HTTP_START_S = 60


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def http_app(services: Services, port: int) -> Iterator[str]:
    """Courriel's HTTP application under uvicorn on a real socket; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + HTTP_START_S
    while not server.started:
        assert thread.is_alive(), "the HTTP server did not start"
        assert time.monotonic() < deadline, "the HTTP server did not start in time"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(HTTP_START_S)
