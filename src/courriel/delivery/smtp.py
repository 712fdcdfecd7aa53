"""The SMTP client: one session to one mail exchanger, reused for many messages.

A thin layer on aiosmtplib adding what an MTA needs: the per-stage timeouts of
RFC 5321 §4.5.3.2, STARTTLS by policy, SMTPUTF8 only when needed, and RSET
after a refused transaction so the connection serves the next message.

When no reply came (refused, timed out, dropped, TLS broken) the error carries
code 0, "no SMTP reply", and a ``kind`` for `replies.classify_connection_error`:
a made-up 421 would read as the server throttling us and slow the whole lane.
PIPELINING (RFC 2920) is not used: aiosmtplib's command API waits for each
reply, and its protocol drops reply bytes that arrive while an earlier reply
awaits pickup (a guard against mis-pairing), so pipelined replies written on
its transport can be lost. Pipelining needs an SMTP client protocol of our
own; docs/benchmarks.md says what the round trips cost.
Nothing here logs addresses or message content.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal, Self

import aiosmtplib

from courriel.delivery.wire import dot_stuff, is_valid_path, unverified_tls_context

log = logging.getLogger(__name__)

SmtpStage = Literal["connect", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "network"]
TlsPolicy = Literal["opportunistic", "required", "off"]
NO_REPLY = 0


@dataclass(frozen=True)
class SmtpReply:
    """A server's reply (or a synthetic one, see the module docstring) and its stage."""

    code: int
    text: str
    stage: SmtpStage


class SmtpSessionError(Exception):
    """The session could not be opened or broke; ``reply`` says where and why.

    ``kind`` is set when no SMTP reply came (see `classify_connection_error`).
    """

    def __init__(self, reply: SmtpReply, *, kind: str | None = None) -> None:
        super().__init__(f"{reply.stage}: {reply.code} {reply.text}")
        self.reply = reply
        self.kind = kind


@dataclass(frozen=True)
class SmtpTimeouts:
    """Seconds to wait at each stage; the defaults are RFC 5321 §4.5.3.2's minimums.

    ``connect`` is not in the RFC, which times replies, not TCP handshakes:
    30 s covers a slow route, while waiting longer only ties up a worker on
    a dead host the next MX may replace. ``command`` (EHLO, STARTTLS, RSET,
    QUIT) is not in the RFC either; it gets MAIL's five minutes.
    """

    connect: float = 30.0
    greeting: float = 300.0
    mail: float = 300.0
    rcpt: float = 300.0
    data_init: float = 120.0
    data_block: float = 180.0
    data_end: float = 600.0
    command: float = 300.0


def _network_error(stage: SmtpStage, exc: BaseException) -> SmtpSessionError:
    if isinstance(exc, TimeoutError):
        kind = "timeout"
    elif isinstance(exc, socket.gaierror):
        kind = "dns-failed"
    elif isinstance(exc, ssl.SSLError):
        kind = "tls-failed"
    elif isinstance(exc, ConnectionRefusedError):
        kind = "refused"
    else:
        kind = "connection-lost"
    return SmtpSessionError(SmtpReply(NO_REPLY, f"{kind}: {exc}", stage), kind=kind)


class SmtpSession:
    """An open SMTP connection, ready for transactions. Not for concurrent use."""

    def __init__(self, client: aiosmtplib.SMTP, timeouts: SmtpTimeouts, *, tls: bool) -> None:
        self._client = client
        self._timeouts = timeouts
        self._tls = tls
        self._usable = True
        self._messages_sent = 0

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        helo_name: str,
        tls: TlsPolicy = "opportunistic",
        timeouts: SmtpTimeouts = SmtpTimeouts(),
        tls_context: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> Self:
        """Connect, read the greeting, EHLO and STARTTLS as ``tls`` says.

        ``tls="opportunistic"`` encrypts when STARTTLS is offered and falls
        back to cleartext when it is refused or its handshake fails.
        ``tls="required"`` fails instead; the certificate is verified only if
        ``tls_context`` verifies it (like Postfix's "encrypt" level). Raises
        `SmtpSessionError` at stage ``connect``, ``ehlo`` or ``starttls``.
        With ``credentials`` (a smart host) it authenticates (RFC 4954) after
        STARTTLS; a refusal raises at stage ``auth`` with kind
        ``auth-failed``: a configuration error to retry, never a bounce.
        """
        sock = await _connect_socket(host, port, timeouts.connect)
        client = aiosmtplib.SMTP(sock=sock, local_hostname=helo_name, start_tls=False)
        try:
            await client.connect(timeout=timeouts.greeting)
        except aiosmtplib.SMTPResponseException as exc:
            raise SmtpSessionError(SmtpReply(exc.code, exc.message, "connect")) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise _network_error("connect", exc) from exc
        try:
            await _hello(client, timeouts)
            secured = await _starttls(client, host, tls, tls_context, timeouts)
            if credentials is not None:
                await _login(client, credentials, timeouts)
        except SmtpSessionError as exc:
            client.close()
            if tls == "opportunistic" and exc.kind == "tls-failed":
                # Opportunistic security puts communication first (RFC 7435
                # §3): a server whose TLS is broken gets cleartext on a fresh
                # connection, as it would had it not offered STARTTLS at all.
                log.info("TLS handshake with %s failed; retrying in cleartext", host)
                return await cls.open(
                    host,
                    port,
                    helo_name=helo_name,
                    tls="off",
                    timeouts=timeouts,
                    credentials=credentials,
                )
            raise
        except BaseException:
            client.close()
            raise
        log.debug("SMTP session open to %s:%d (TLS: %s)", host, port, secured)
        return cls(client, timeouts, tls=secured)

    @property
    def usable(self) -> bool:
        """Whether the connection can carry another transaction."""
        return self._usable and self._client.is_connected

    @property
    def tls(self) -> bool:
        """Whether STARTTLS succeeded on this connection."""
        return self._tls

    @property
    def messages_sent(self) -> int:
        """Messages the server accepted (250 after DATA) on this session."""
        return self._messages_sent

    async def send(self, mail_from: str, rcpt: str, data: bytes) -> SmtpReply:
        """Send one message to one recipient and return the deciding reply.

        A 2xx reply at stage ``data`` means accepted. A 4xx/5xx reply at any
        stage is returned after RSET so the session serves the next message.
        A reply without a server behind it (bad address characters, SMTPUTF8
        needed but not offered) is returned without sending anything.
        Raises `SmtpSessionError` (stage ``network``) when the connection
        fails; the session is then unusable.
        """
        if not self.usable:
            raise SmtpSessionError(
                SmtpReply(NO_REPLY, "session closed", "network"), kind="connection-lost"
            )
        options = self._mail_options(mail_from, rcpt, data)
        if isinstance(options, SmtpReply):
            return options
        encoding = "utf-8" if "SMTPUTF8" in options else "ascii"
        t = self._timeouts
        # The paths were checked above, so the commands are written directly:
        # aiosmtplib's mail()/rcpt() would parse each address again, which on
        # long VERP local parts costs more than the rest of the transaction.
        parameters = "".join(f" {option}" for option in options)
        mail = f"FROM:<{mail_from}>{parameters}".encode(encoding)
        failed = await self._command("mail", b"MAIL", mail, seconds=t.mail)
        if failed is None:
            to = f"TO:<{rcpt}>".encode(encoding)
            failed = await self._command("rcpt", b"RCPT", to, seconds=t.rcpt)
        return failed or await self._data(data)

    async def _command(
        self, stage: SmtpStage, verb: bytes, argument: bytes, *, seconds: float
    ) -> SmtpReply | None:
        """Run MAIL or RCPT: None when accepted, else the refusal (after RSET)."""
        try:
            reply = await self._client.execute_command(verb, argument, timeout=seconds)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._broken(exc) from exc
        if 200 <= reply.code < 300:
            return None
        return await self._refused(reply.code, reply.message, stage)

    async def close(self) -> None:
        """Say QUIT and close; errors are ignored, the connection is over anyway."""
        self._usable = False
        if self._client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await self._client.quit(timeout=self._timeouts.command)
        self._client.close()

    def _mail_options(self, mail_from: str, rcpt: str, data: bytes) -> list[str] | SmtpReply:
        """The MAIL FROM parameters, or the reply refusing what cannot be sent."""
        paths: tuple[tuple[str, SmtpStage], ...] = ((mail_from, "mail"), (rcpt, "rcpt"))
        for address, stage in paths:
            if not is_valid_path(address):
                return SmtpReply(553, "5.1.3 Address not allowed on an SMTP command line", stage)
        options: list[str] = []
        if not (mail_from.isascii() and rcpt.isascii()):
            if not self._client.supports_extension("smtputf8"):
                # RFC 6531: a non-ASCII address may only travel to a server that
                # offers SMTPUTF8; X.6.7 is its status code for this refusal.
                return SmtpReply(553, "5.6.7 Non-ASCII address needs SMTPUTF8", "mail")
            options.append("SMTPUTF8")
        if not data.isascii() and self._client.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")  # RFC 6152.
        return options

    async def _content(self, data: bytes) -> SmtpReply:
        """After a 354: the message, then its final reply."""
        t = self._timeouts
        protocol = self._client.protocol
        try:
            if protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("Connection lost")
            protocol.write(dot_stuff(data))
            # The transport buffers the whole message, so no single send can be
            # timed: the final wait covers one data block's transfer, then the
            # server's processing (RFC 5321 §4.5.3.2.5-6).
            final = await protocol.read_response(timeout=t.data_block + t.data_end)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._broken(exc) from exc
        if not 200 <= final.code < 300:
            return await self._refused(final.code, final.message, "data")
        self._messages_sent += 1
        return SmtpReply(final.code, final.message, "data")

    async def _data(self, data: bytes) -> SmtpReply:
        # aiosmtplib's data() waits with one timeout for both replies; RFC 5321
        # §4.5.3.2 gives 2 minutes for the 354 and 10 for the final one.
        try:
            start = await self._client.execute_command(b"DATA", timeout=self._timeouts.data_init)
        except aiosmtplib.SMTPResponseException as exc:
            return await self._refused(exc.code, exc.message, "data")
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._broken(exc) from exc
        if start.code != 354:
            return await self._refused(start.code, start.message, "data")
        return await self._content(data)

    async def _refused(self, code: int, text: str, stage: SmtpStage) -> SmtpReply:
        # RFC 5321 §4.1.1.5: RSET aborts the transaction and keeps the session,
        # unless the server is closing it (§3.8: 421) or RSET fails too.
        reset = None
        if code != 421 and self._client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                reset = await self._client.rset(timeout=self._timeouts.command)
        if reset is None or not 200 <= reset.code < 300:
            self._usable = False
            self._client.close()
        return SmtpReply(code, text, stage)

    def _broken(self, exc: BaseException) -> SmtpSessionError:
        self._usable = False
        self._client.close()
        return _network_error("network", exc)


async def _connect_socket(host: str, port: int, seconds: float) -> socket.socket:
    """Open the TCP connection within ``seconds``, trying each address in turn.

    aiosmtplib would use one timeout for the TCP handshake and the greeting;
    RFC 5321 §4.5.3.2.1 grants the greeting five minutes, far too long to
    wait for a SYN, so the socket is connected here first.
    """
    loop = asyncio.get_running_loop()
    last: BaseException | None = None
    sock: socket.socket | None = None
    try:
        async with asyncio.timeout(seconds):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            for family, type_, proto, _, address in infos:
                sock = socket.socket(family, type_, proto)
                sock.setblocking(False)  # noqa: FBT003
                try:
                    await loop.sock_connect(sock, address)
                except OSError as exc:
                    last = exc
                    sock.close()
                    continue
                connected, sock = sock, None
                return connected
    except (TimeoutError, OSError) as exc:
        last = exc
    finally:
        # A timeout or a cancellation mid-connect must not leak the socket.
        if sock is not None:
            sock.close()
    raise _network_error("connect", last or OSError("no address")) from last


async def _expect(stage: SmtpStage, command: Awaitable[aiosmtplib.SMTPResponse]) -> None:
    """Run one command of the opening; any failure becomes `SmtpSessionError`."""
    try:
        await command
    except aiosmtplib.SMTPResponseException as exc:
        raise SmtpSessionError(SmtpReply(exc.code, exc.message, stage)) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise _network_error(stage, exc) from exc


async def _login(
    client: aiosmtplib.SMTP, credentials: tuple[str, str], timeouts: SmtpTimeouts
) -> None:
    try:
        await client.login(*credentials, timeout=timeouts.command)
    except aiosmtplib.SMTPResponseException as exc:
        reply = SmtpReply(NO_REPLY, f"AUTH refused: {exc.code} {exc.message}", "auth")
        raise SmtpSessionError(reply, kind="auth-failed") from exc
    except aiosmtplib.SMTPException as exc:
        # No AUTH offered (or no usable mechanism): the same configuration problem.
        reply = SmtpReply(NO_REPLY, f"AUTH unavailable: {exc}", "auth")
        raise SmtpSessionError(reply, kind="auth-failed") from exc
    except OSError as exc:
        raise _network_error("auth", exc) from exc


async def _hello(client: aiosmtplib.SMTP, timeouts: SmtpTimeouts) -> None:
    try:
        await _expect("ehlo", client.ehlo(timeout=timeouts.command))
    except SmtpSessionError as exc:
        # RFC 5321 §3.2: a server that does not know EHLO says so with 500/502
        # (some with 501/504); fall back to HELO, without extensions.
        if exc.reply.code not in (500, 501, 502, 504) or not client.is_connected:
            raise
        await _expect("ehlo", client.helo(timeout=timeouts.command))


async def _starttls(
    client: aiosmtplib.SMTP,
    host: str,
    policy: TlsPolicy,
    context: ssl.SSLContext | None,
    timeouts: SmtpTimeouts,
) -> bool:
    """Upgrade to TLS as ``policy`` says; return whether the session is encrypted."""
    if policy == "off":
        return False
    if not client.supports_extension("starttls"):
        if policy == "required":
            reply = SmtpReply(NO_REPLY, "TLS required but STARTTLS not offered", "starttls")
            raise SmtpSessionError(reply, kind="tls-unavailable")
        return False
    context = context or unverified_tls_context()
    try:
        await client.starttls(tls_context=context, server_hostname=host, timeout=timeouts.command)
    except aiosmtplib.SMTPResponseException as exc:
        # RFC 3207 §4: a refusal (454) leaves the session usable in cleartext,
        # which opportunistic TLS accepts. For required TLS it is a deferral,
        # not the server's verdict on us: report it without a reply code.
        if policy == "required":
            reply = SmtpReply(NO_REPLY, f"STARTTLS refused: {exc.code} {exc.message}", "starttls")
            raise SmtpSessionError(reply, kind="tls-unavailable") from exc
        return False
    except (aiosmtplib.SMTPServerDisconnected, ssl.SSLError) as exc:
        # The handshake broke and took the connection with it.
        reply = SmtpReply(NO_REPLY, f"TLS handshake failed: {exc}", "starttls")
        raise SmtpSessionError(reply, kind="tls-failed") from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise _network_error("starttls", exc) from exc
    # RFC 3207 §4.2: forget what was learnt before TLS and say EHLO again.
    await _hello(client, timeouts)
    return True
