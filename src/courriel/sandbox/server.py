"""The SMTP servers of the sandbox internet, one per simulated provider.

``Sandbox`` starts every provider's aiosmtpd server on the current event
loop, so an application, its tests and the simulated internet share one loop
and no threads, and publishes the ports it bound in the zone file. The
policy those servers apply lives in ``handler`` and ``behaviour``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import ssl
import weakref
from typing import TYPE_CHECKING, Self

from aiosmtpd.smtp import SMTP

from courriel.sandbox.behaviour import Behaviour
from courriel.sandbox.certificate import self_signed_context
from courriel.sandbox.handler import (
    DATA_SIZE_LIMIT,
    ProviderHandler,
    ProviderSmtp,
    RefusingProtocol,
)
from courriel.sandbox.providers import DEFAULT_PROVIDERS, Provider
from courriel.sandbox.recipients import SimulatedRecipients
from courriel.sandbox.store import MailStore, store_path
from courriel.sandbox.web import WebHosts, blocklist_records
from courriel.sandbox.zone import (
    DOMAIN_BLOCKLIST,
    IP_BLOCKLIST,
    Zone,
    blocklist_name,
    build_zone,
    write_zone,
    zone_path,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path
    from types import TracebackType

__all__ = [
    "DATA_SIZE_LIMIT",
    "IDENT",
    "Sandbox",
    "run_sandbox",
    "serve_until_signalled",
]

IDENT = "ESMTP Courriel sandbox"


class Sandbox:
    """Every simulated provider's SMTP server, on the current event loop.

    ``behaviours`` exists from construction, so failures can be scripted
    before ``start``; ``store`` and ``zone`` exist while it runs.
    """

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        base_port: int = 0,
        providers: Sequence[Provider] = DEFAULT_PROVIDERS,
        *,
        store_bodies: bool = True,
    ) -> None:
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ValueError(f"provider names must be unique: {names}")
        self.data_dir = data_dir
        self.host = host
        self.base_port = base_port
        # False keeps only each message's header section in the store (a
        # benchmark's receiving side then writes a few hundred bytes, not the
        # whole message); simulated recipients still see the full message.
        self.store_bodies = store_bodies
        self.providers: tuple[Provider, ...] = tuple(providers)
        self.behaviours: dict[str, Behaviour] = {name: Behaviour() for name in names}
        # Late bounces, complaints, opens, clicks and unsubscribes; set
        # ``recipients.return_to`` to Courriel's return-path server.
        self.recipients = SimulatedRecipients(self.behaviours)
        self._tls: ssl.SSLContext | None = None
        self.zone_file = zone_path(data_dir)
        self._store: MailStore | None = None
        self._zone: Zone | None = None
        self._servers: list[asyncio.Server] = []
        self._connections: weakref.WeakSet[SMTP | RefusingProtocol] = weakref.WeakSet()
        # Connections each provider's server accepted, so tests can see reuse.
        self.connections_accepted: dict[str, int] = dict.fromkeys(names, 0)
        # Each provider's SMTP hooks, which count its sessions (`peak_sessions`).
        self.handlers: dict[str, ProviderHandler] = {}
        # The simulated web sites links lead to; pages can be scripted before `start`.
        self.web = WebHosts()

    @property
    def store(self) -> MailStore:
        """What the simulated mailboxes received (only while running)."""
        if self._store is None:
            raise RuntimeError("the sandbox is not running")
        return self._store

    @property
    def zone(self) -> Zone:
        """The domains and the addresses the servers really bound."""
        if self._zone is None:
            raise RuntimeError("the sandbox is not running")
        return self._zone

    def list_on_blocklist(
        self,
        subject: str,
        reason: str = "listed by the sandbox blocklist",
        *,
        zone: str | None = None,
        code: str = "127.0.0.2",
    ) -> None:
        """List an IP address or a domain on a blocklist zone of the sandbox.

        The zone defaults to `IP_BLOCKLIST` for an address, `DOMAIN_BLOCKLIST`
        for a domain. As a real DNSBL does (RFC 5782 §2.1), the entry answers
        A with a 127.0.0.x code and TXT with the reason.
        """
        name = blocklist_name(subject, zone or _default_blocklist(subject))
        self._publish({**self.zone.records, name: {"A": [code], "TXT": [reason]}})

    def delist(self, subject: str, *, zone: str | None = None) -> None:
        """Take `subject` off a sandbox blocklist zone (no entry: not listed)."""
        name = blocklist_name(subject, zone or _default_blocklist(subject))
        self._publish({n: rr for n, rr in self.zone.records.items() if n != name})

    def publish(self, records: dict[str, dict[str, list[str]]]) -> None:
        """Add (or replace) records of the zone: TXT, A, PTR… by name, then type.

        What a sender domain publishes at its DNS host (SPF, DKIM, DMARC) or a
        provider at its reverse zone (PTR), so the checks that read them run
        against the sandbox. An entry with no types makes its name, and the
        names under it, the sandbox's to answer (empty), not real DNS's.
        """
        self._publish(
            {**self.zone.records, **{n.lower().rstrip("."): rr for n, rr in records.items()}}
        )

    def _publish(self, records: dict[str, dict[str, list[str]]]) -> None:
        zone = self.zone
        self._zone = Zone(
            domains=zone.domains, hosts=zone.hosts, records=records, signed=zone.signed
        )
        write_zone(self.zone_file, self._zone)

    async def start(self) -> Zone:
        """Bind every provider's server, then publish the zone file."""
        if self._store is not None:
            raise RuntimeError("the sandbox is already running")
        loop = asyncio.get_running_loop()
        # The store opens first: no message can be accepted before there is
        # somewhere to keep it.
        self._store = MailStore(store_path(self.data_dir))
        addresses: dict[str, tuple[str, int]] = {}
        try:
            for index, provider in enumerate(self.providers):
                port = self.base_port + index if self.base_port else 0
                server = await loop.create_server(
                    self._factory(provider, self._store, loop), self.host, port
                )
                self._servers.append(server)
                ip, bound_port = server.sockets[0].getsockname()[:2]
                addresses[provider.name] = (str(ip), int(bound_port))
            web = await self.web.start(self.host)
            self._zone = build_zone(
                self.providers,
                addresses,
                web=dict.fromkeys(self.web.hosts, web),
                records=blocklist_records(),
            )
            write_zone(self.zone_file, self._zone)
            self.recipients.start()
        except BaseException:
            await self.stop()
            raise
        return self._zone

    async def stop(self) -> None:
        """Stop listening, drop open connections, close the store.

        The zone file stays: a client that still reads it gets refused
        connections, which it must treat as a temporary failure anyway.
        """
        await self.recipients.stop()
        await self.web.stop()
        for server in self._servers:
            server.close()
        # Abort rather than close: a client that stopped reading would keep
        # a graceful close (and, since Python 3.12, wait_closed) pending.
        for connection in list(self._connections):
            transport = connection.transport
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            elif transport is not None:
                transport.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._store is not None:
            self._store.close()
        self._store = None
        self._zone = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _factory(
        self, provider: Provider, store: MailStore, loop: asyncio.AbstractEventLoop
    ) -> Callable[[], asyncio.BaseProtocol]:
        behaviour = self.behaviours[provider.name]

        def received(mail_from: str, rcpt: str, content: bytes) -> None:
            self.recipients.received(provider.name, provider.mx_host, mail_from, rcpt, content)

        handler = ProviderHandler(
            provider, behaviour, store, on_received=received, store_bodies=self.store_bodies
        )
        self.handlers[provider.name] = handler

        def make_protocol() -> asyncio.BaseProtocol:
            self.connections_accepted[provider.name] += 1
            refusal = behaviour.take_failure("connect")
            protocol: SMTP | RefusingProtocol
            if refusal is not None:
                protocol = RefusingProtocol(refusal)
            else:
                tls = self._tls_context() if behaviour.tls != "none" else None
                login = behaviour.requires_login
                protocol = ProviderSmtp(
                    handler,
                    tls_context=tls,
                    require_starttls=behaviour.tls == "required",
                    # A smart host: AUTH offered (over TLS when it has TLS,
                    # RFC 4954 §4) and required before MAIL.
                    authenticator=handler.authenticate if login else None,
                    auth_required=login,
                    auth_require_tls=login and tls is not None,
                    hostname=provider.mx_host,
                    ident=IDENT,
                    data_size_limit=DATA_SIZE_LIMIT,
                    # Bytes in, bytes stored: with decode_data=False aiosmtpd
                    # also advertises 8BITMIME (RFC 6152).
                    decode_data=False,
                    enable_SMTPUTF8=True,
                    loop=loop,
                )
            self._connections.add(protocol)
            return protocol

        return make_protocol

    def certificate_file(self) -> Path:
        """The PEM certificate the servers present on STARTTLS (made on first need).

        A client told to trust it (e.g. `smart_host_ca_file`) verifies the
        servers as `mx.<provider>.test` or by their address.
        """
        self._tls_context()
        return self.data_dir / "sandbox" / "tls-cert.pem"

    def _tls_context(self) -> ssl.SSLContext:
        # Generated once, on first need: a self-signed certificate, as many
        # real MX hosts present (the engine encrypts without verifying).
        if self._tls is None:
            hosts = [p.mx_host for p in self.providers]
            self._tls = self_signed_context(self.data_dir / "sandbox", hosts, [self.host])
        return self._tls


async def serve_until_signalled(
    data_dir: Path,
    host: str = "127.0.0.1",
    base_port: int = 0,
    providers: Sequence[Provider] = DEFAULT_PROVIDERS,
    on_ready: Callable[[Zone], None] | None = None,
    *,
    store_bodies: bool = True,
) -> None:
    """Run a sandbox until SIGINT or SIGTERM, calling ``on_ready`` once bound."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stopping.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            # Not the main thread, or not a POSIX loop: Ctrl-C still ends
            # asyncio.run with KeyboardInterrupt, and the sandbox still stops.
            pass
    try:
        async with Sandbox(
            data_dir, host, base_port, providers, store_bodies=store_bodies
        ) as sandbox:
            if on_ready is not None:
                on_ready(sandbox.zone)
            await stopping.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def run_sandbox(
    data_dir: Path,
    host: str = "127.0.0.1",
    base_port: int = 0,
    providers: Sequence[Provider] = DEFAULT_PROVIDERS,
    on_ready: Callable[[Zone], None] | None = None,
    *,
    store_bodies: bool = True,
) -> None:
    """Run a sandbox in its own event loop until Ctrl-C or SIGTERM (the CLI)."""
    asyncio.run(
        serve_until_signalled(
            data_dir, host, base_port, providers, on_ready, store_bodies=store_bodies
        )
    )


def _default_blocklist(subject: str) -> str:
    try:
        ipaddress.ip_address(subject)
    except ValueError:
        return DOMAIN_BLOCKLIST
    return IP_BLOCKLIST
