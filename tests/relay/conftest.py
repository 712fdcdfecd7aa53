"""The SMTP relay for tests: a tenant with a sender domain and a key, the relay on
its own event loop (ports picked free), swaks to submit, dkimpy to verify."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import dkim as dkimpy
import pytest

from courriel.accounts.service import CreatedKey
from courriel.core.attempts import FailureThrottle
from courriel.core.principal import Principal
from courriel.relay.submission import RelayServer
from courriel.relay.tls import relay_tls_context
from courriel.services import Services

SWAKS = "/usr/bin/swaks"
START_S = 10


@dataclass(frozen=True)
class Sender:
    """A tenant that may relay: its key (id, secret) and its verified sender domain."""

    tenant_id: str
    operator: Principal
    key: CreatedKey
    domain: str


def make_sender(services: Services, name: str, domain: str) -> Sender:
    tenant = services.tenants.create(name)
    operator = Principal.operator(tenant.id)
    key = services.api_keys.create(operator, "relay key")
    # Adding the domain makes its DKIM keys; under the sandbox resolver a
    # `.test` domain counts as verified.
    services.sender_domains.add(operator, domain)
    return Sender(tenant.id, operator, key, domain)


@pytest.fixture
def shop_a(services: Services) -> Sender:
    return make_sender(services, "Shop A", "shop-a.test")


@pytest.fixture
def shop_b(services: Services) -> Sender:
    return make_sender(services, "Shop B", "shop-b.test")


class RelayThread:
    """A `RelayServer` of `services` on its own event loop in a thread."""

    def __init__(self, services: Services, throttle: FailureThrottle | None = None) -> None:
        settings = services.settings
        self.throttle = throttle or FailureThrottle(services.clock)
        self.server = RelayServer(
            services.relayed_mail(), self.throttle, settings, relay_tls_context(settings)
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> RelayServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(0, 0), self._loop).result(START_S)
        return self.server

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(START_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_S)
        self._loop.close()


@pytest.fixture
def relay(services: Services) -> Iterator[RelayServer]:
    with RelayThread(services) as server:
        yield server


def swaks(port: int, *args: str, tls: str = "--tls") -> str:
    """Run swaks against the relay on `port`; its whole transcript."""
    command = [SWAKS, "--server", "127.0.0.1", "--port", str(port), "--timeout", "20"]
    if tls:
        command.append(tls)
    done = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=60, check=False
    )
    return done.stdout + done.stderr


def login(sender: Sender, password: str | None = None, mechanism: str = "PLAIN") -> list[str]:
    return [
        "--auth",
        mechanism,
        "--auth-user",
        sender.key.id,
        "--auth-password",
        password if password is not None else sender.key.secret,
    ]


def dkim_results(services: Services, sender: Sender, message: bytes) -> list[bool]:
    """Each DKIM-Signature of `message` checked by dkimpy against the domain's records."""
    published = {
        f"{r.name}.".encode(): r.value.encode()
        for r in services.dkim_keys.records(sender.operator, sender.domain)
    }
    results = []
    for index in range(message.count(b"DKIM-Signature:")):
        try:
            verified = dkimpy.DKIM(message).verify(
                idx=index, dnsfunc=lambda name, timeout=5: published.get(name)
            )
        except dkimpy.ValidationError:
            verified = False
        results.append(bool(verified))
    return results


def replies(transcript: str, prefix: str) -> Sequence[str]:
    """The server lines of a swaks transcript that start with `prefix` (e.g. "250 2.0.0")."""
    return [line[4:].strip() for line in transcript.splitlines() if line[4:].startswith(prefix)]


class RawClient:
    """One SMTP connection written byte for byte (for what no real client sends)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(
        cls, port: int, *, implicit_tls: bool = False, source: str = "127.0.0.1"
    ) -> RawClient:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context if implicit_tls else None, local_addr=(source, 0)
        )
        client = cls(reader, writer)
        await client.reply()
        return client

    async def reply(self) -> str:
        """One whole (possibly multi-line) reply."""
        lines = []
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), 20)).decode()
            lines.append(line.rstrip("\r\n"))
            if line[3:4] != "-":
                return "\n".join(lines)

    async def command(self, line: str | bytes) -> str:
        self.writer.write((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return await self.reply()

    async def starttls(self) -> None:
        assert (await self.command("STARTTLS")).startswith("220")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        await self.writer.start_tls(context)

    async def login(self, sender: Sender, password: str | None = None) -> str:
        secret = password if password is not None else sender.key.secret
        blob = base64.b64encode(f"\0{sender.key.id}\0{secret}".encode()).decode()
        return await self.command(f"AUTH PLAIN {blob}")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await self.writer.wait_closed()
