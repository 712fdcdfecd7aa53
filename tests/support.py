"""Helpers shared by the tests (importable as `support`: tests/ is on pythonpath)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from courriel.accounts.principal import Principal
from courriel.core.models import Tenant
from courriel.sandbox.providers import DEFAULT_PROVIDERS, Provider
from courriel.sandbox.server import Sandbox
from courriel.services import Services


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
