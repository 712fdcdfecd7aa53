"""The policy of a simulated provider's SMTP server: aiosmtpd's hooks.

aiosmtpd runs the protocol state machine and calls these hooks at each step
(MAIL, RCPT, DATA); they ask the provider's ``Behaviour`` which reply to give
and record accepted mail in the ``MailStore``. ``RefusingProtocol`` stands in
for the whole server when a connection is to be refused from the greeting.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, cast

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from courriel.core.wire import unstuff
from courriel.sandbox.behaviour import (
    REPLY_ACCEPTED_RCPT,
    REPLY_ACCEPTED_SENDER,
    REPLY_BAD_SEQUENCE,
    REPLY_CLOSING,
    REPLY_GREYLISTED,
    REPLY_LOCAL_ERROR,
    REPLY_RATE_LIMITED,
    REPLY_RELAY_DENIED,
    queued_reply,
)
from courriel.sandbox.data import data_allowed, has_long_line, read_message_data

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiosmtpd.smtp import Envelope, Session

    from courriel.sandbox.behaviour import Behaviour
    from courriel.sandbox.providers import Provider
    from courriel.sandbox.store import MailStore

__all__ = [
    "CLOSING_CODE",
    "DATA_SIZE_LIMIT",
    "ProviderHandler",
    "ProviderSmtp",
    "RefusingProtocol",
    "close_after_reply",
]

log = logging.getLogger(__name__)

DATA_SIZE_LIMIT = 50 * 1024 * 1024
"""Largest message accepted, advertised with the SIZE extension (RFC 1870)."""

# RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets with its CRLF;
# like aiosmtpd, one more is tolerated.
MAX_LINE = 999
# RFC 5321 §4.1.1.4: only CRLF "." CRLF ends the data (no SMTP smuggling).
_END_OF_DATA = b".\r\n"
# A path that is a plain dot-atom address, optionally followed by parameters:
# what nearly every client sends. Anything else goes to aiosmtpd's full
# RFC 5322 parser, which costs more than the rest of the command.
_PLAIN_PATH = re.compile(
    r"\s*<((?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+\.)*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
    r"@(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+)>\s*(.*)",
    re.DOTALL,
)

# A 421 reply means the server is closing the connection (RFC 5321 §3.8);
# a client that sees one must not be able to carry on as if it had not.
CLOSING_CODE = "421"


def close_after_reply(server: SMTP, reply: str) -> None:
    """Close the connection once ``reply`` is sent, if it is a 421."""
    if reply.startswith(CLOSING_CODE) and server.transport is not None:
        # Scheduled, not immediate: aiosmtpd writes the reply after the hook
        # returns, and close() flushes what was written before closing.
        server.loop.call_soon(server.transport.close)


class ProviderHandler:
    """The aiosmtpd hooks of one simulated provider's server."""

    def __init__(
        self,
        provider: Provider,
        behaviour: Behaviour,
        store: MailStore,
        on_received: Callable[[str, str, bytes], None] | None = None,
        *,
        store_bodies: bool = True,
    ) -> None:
        self.provider = provider
        self.store_bodies = store_bodies
        self.behaviour = behaviour
        self.store = store
        # Sessions open now and the most ever open at once: what a receiving
        # server sees of a sender's connection limit, across all its engines.
        self.open_sessions = 0
        self.peak_sessions = 0
        # Sessions opened by each client address: a receiver's view of a
        # sender's IPs (each judged on its own), whether or not mail followed.
        self.sessions_by_peer: Counter[str] = Counter()
        # Called with (return path, recipient, message) for each stored copy,
        # so simulated recipients and asynchronous bounces can react.
        self.on_received = on_received

    async def _slow(self, address: str) -> None:
        delay = self.behaviour.profile(address.rpartition("@")[2]).reply_delay_seconds
        if delay > 0:
            await asyncio.sleep(delay)

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook name)
        self,
        _server: SMTP,
        session: Session,
        _envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Advertise PIPELINING (RFC 2920), as every large provider does.

        aiosmtpd reads commands one line at a time from a buffer, so a
        client's pipelined MAIL, RCPT and DATA are answered in order.
        """
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: SMTP,
        _session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """Accept the sender unless a failure is scripted."""
        failure = self.behaviour.take_failure("mail")
        if failure is not None:
            close_after_reply(server, failure)
            return failure
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return REPLY_ACCEPTED_SENDER

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: SMTP,
        _session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Accept or refuse this one recipient.

        A refusal applies to this recipient only; the others of the same
        transaction still get the message (RFC 5321 §3.3).
        """
        await self._slow(address)
        reply = self.behaviour.take_failure("rcpt")
        if reply is None and not self._hosts(address):
            reply = REPLY_RELAY_DENIED
        if reply is None:
            reply = self.behaviour.rule_reply(address)
        if reply is None:
            reply = self._profile_reply(server, envelope, address)
        if reply is not None:
            close_after_reply(server, reply)
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return REPLY_ACCEPTED_RCPT

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Store the message once per accepted recipient, or fail as scripted."""
        if envelope.rcpt_tos:
            await self._slow(envelope.rcpt_tos[0])
        failure = self.behaviour.take_failure("data")
        if failure is not None:
            close_after_reply(server, failure)
            return failure
        # aiosmtpd keeps "<>" for the null reverse-path of bounces (RFC 5321
        # §4.5.5); the store records it as the empty sender.
        mail_from = "" if envelope.mail_from in (None, "<>") else str(envelope.mail_from)
        content = envelope.original_content or b""
        trace = self._trace_headers(session, mail_from)
        kept = content if self.store_bodies else content.partition(b"\r\n\r\n")[0] + b"\r\n"
        peer = session.peer
        ids = self.store.add(
            self.provider.name,
            mail_from,
            envelope.rcpt_tos,
            trace + kept,
            peer=peer[0] if isinstance(peer, tuple) else str(peer),
            helo=str(session.host_name or ""),
        )
        if self.on_received is not None:
            for rcpt in envelope.rcpt_tos:
                self.on_received(mail_from, rcpt, content)
        if self.behaviour.take_drop("after-dot"):
            # Stored, but the sender never hears so: it will send again.
            hang_up(server)
        return queued_reply(str(ids[0]))

    def authenticate(
        self,
        _server: SMTP,
        _session: Session,
        _envelope: Envelope,
        _mechanism: str,
        auth_data: object,
    ) -> AuthResult:
        """aiosmtpd's authenticator: PLAIN and LOGIN both hand over a login and password."""
        if isinstance(auth_data, LoginPassword):
            username = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            if self.behaviour.login_ok(username, password):
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    async def handle_exception(self, error: Exception) -> str:
        """Answer a failure of ours with a temporary error, so mail is retried.

        A 451 (RFC 5321 §4.2.3) makes the client keep the message; the
        aiosmtpd default, a 500 with the exception text, would make it bounce
        and would leak internals to the peer.
        """
        log.error("sandbox %s: error handling a command: %r", self.provider.name, error)
        return REPLY_LOCAL_ERROR

    def _profile_reply(self, server: SMTP, envelope: Envelope, address: str) -> str | None:
        domain = address.rpartition("@")[2]
        profile = self.behaviour.profile(domain)
        if profile.greylist:
            peer = server.session.peer if server.session is not None else ""
            client = peer[0] if isinstance(peer, tuple) else str(peer)
            sender = str(envelope.mail_from or "")
            if self.behaviour.first_try(client, sender, address):
                return REPLY_GREYLISTED
        if self.behaviour.over_rate_limit(domain):
            return REPLY_RATE_LIMITED
        return None

    def _hosts(self, address: str) -> bool:
        local_part, _, domain = address.rpartition("@")
        # "postmaster" without a domain must be accepted (RFC 5321 §4.5.1).
        if not local_part and domain.lower() == "postmaster":
            return True
        return self.provider.handles(domain)

    def _trace_headers(self, session: Session, mail_from: str) -> bytes:
        # At final delivery the server adds Return-Path and a Received line
        # (RFC 5321 §4.4), so the stored message looks like what a real
        # mailbox shows. Neither header is covered by DKIM signatures.
        peer = session.peer
        ip = peer[0] if isinstance(peer, tuple) else str(peer)
        protocol = "ESMTP" if session.extended_smtp else "SMTP"
        if session.ssl is not None:
            protocol += "S"  # RFC 3848: ESMTPS, the message came over STARTTLS.
        received = (
            f"Received: from {session.host_name or 'unknown'} ([{ip}])\r\n"
            f"\tby {self.provider.mx_host} with {protocol};\r\n"
            f"\t{format_datetime(datetime.now(UTC))}\r\n"
        )
        return f"Return-Path: <{mail_from}>\r\n{received}".encode()


def hang_up(server: SMTP) -> None:
    """Drop the connection at once, with no reply (a crash or a network cut)."""
    transport = server.transport
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    elif transport is not None:
        transport.close()


class ProviderSmtp(SMTP):
    """aiosmtpd's server, reading DATA in one piece, able to drop the connection mid-DATA.

    aiosmtpd reads message data one line at a time, which made the sandbox's
    receiving side the slowest part of a delivery benchmark on the same
    machine. Here the data is read in two or three reads (`data`), and only
    CRLF.CRLF ends it, as RFC 5321 §4.1.1.4 says; the stream limit is raised
    to the message size limit so one read can hold a whole message. Command
    lines keep aiosmtpd's own length checks.
    """

    line_length_limit = DATA_SIZE_LIMIT + len(_END_OF_DATA)

    def __init__(self, handler: ProviderHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._behaviour = handler.behaviour
        self._provider_handler = handler
        self._held: list[bytes] = []
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Count the session (once: STARTTLS calls this again on the same one)."""
        if not self._counted:
            self._counted = True
            counts = self._provider_handler
            counts.open_sessions += 1
            counts.peak_sessions = max(counts.peak_sessions, counts.open_sessions)
            peer = transport.get_extra_info("peername")
            counts.sessions_by_peer[str(peer[0]) if isinstance(peer, tuple) else str(peer)] += 1
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        """The session ended."""
        if self._counted:
            self._counted = False
            self._provider_handler.open_sessions -= 1
        super().connection_lost(exc)

    async def push(self, status: str | bytes) -> None:
        """Send a reply, or hold a 250 while more pipelined commands wait (RFC 2920 §3.2).

        A server may keep the replies to a group of pipelined commands and
        send them together once its input runs dry, as Postfix does: the
        client's MAIL, RCPT and DATA then cost one write, not three. Only
        250 replies are held; any other (the 354 that asks for the data, a
        refusal, a 221 or 421 before closing, STARTTLS's 220) sends what is
        held with it at once.
        """
        if isinstance(status, str):
            response = status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii")
        else:
            response = status
        if response.startswith(b"250") and self._more_input():
            self._held.append(response + b"\r\n")
            return
        if self._held:
            response = b"".join(self._held) + response
            self._held.clear()
        self._writer.write(response + b"\r\n")
        await self._writer.drain()

    def _more_input(self) -> bool:
        # A whole command line is waiting in the stream (aiosmtpd reads its
        # reader's buffer too, when a connection ends).
        buffer: bytearray = self._reader._buffer  # type: ignore[attr-defined]  # noqa: SLF001
        return b"\n" in buffer

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        match = _PLAIN_PATH.fullmatch(arg)
        if match is None:
            return super()._getaddr(arg)
        address, rest = match.group(1), match.group(2)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest

    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 (aiosmtpd's command name)
        """DATA, unless a ``mid-data`` drop is scripted: then 354 and hang up."""
        envelope = self.envelope
        if envelope is not None and envelope.rcpt_tos and self._behaviour.take_drop("mid-data"):
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            hang_up(self)
            return
        if envelope is None or not await data_allowed(self, arg):
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            content = await self._read_data()
        except asyncio.LimitOverrunError:
            # More than the size limit without an end: refuse, and hang up
            # rather than read the rest of it (RFC 1870 §6.3 allows closing).
            await self.push("552 5.3.4 Error: Too much mail data")
            hang_up(self)
            return
        except asyncio.IncompleteReadError:
            return  # The client went away mid-data; nothing was accepted.
        if content is None:
            await self.push("500 5.5.2 Line too long (see RFC 5321 4.5.3.1.6)")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        envelope.content = envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(status if isinstance(status, str) else "250 OK")

    async def _read_data(self) -> bytes | None:
        """The message data, dots removed (RFC 5321 §4.5.2); None if a line is too long."""
        data = unstuff(await read_message_data(self._reader, DATA_SIZE_LIMIT + len(_END_OF_DATA)))
        if has_long_line(data, MAX_LINE):
            return None
        return data


class RefusingProtocol(asyncio.Protocol):
    """A server that refuses service from the greeting on (RFC 5321 §3.1).

    With a 421 greeting it closes at once (§3.8). With a 554 greeting it
    must keep the connection open, answer 503 to everything but QUIT, and
    close on QUIT, so a client sees a clean refusal rather than a reset.
    """

    _MAX_BUFFER = 4096

    def __init__(self, greeting: str) -> None:
        self.greeting = greeting
        self.transport: asyncio.Transport | None = None
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP server's transport is always a full (writable) Transport.
        self.transport = transport = cast("asyncio.Transport", transport)
        transport.write(self.greeting.encode() + b"\r\n")
        if self.greeting.startswith(CLOSING_CODE):
            transport.close()

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        self._buffer += data
        while b"\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\n")
            if line.strip().upper() == b"QUIT":
                transport.write(REPLY_CLOSING.encode() + b"\r\n")
                transport.close()
                return
            transport.write(REPLY_BAD_SEQUENCE.encode() + b"\r\n")
        if len(self._buffer) > self._MAX_BUFFER:
            transport.close()
