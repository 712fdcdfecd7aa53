"""The SMTP client: one session to one mail exchanger, reused for many messages.

What an MTA needs, on our own small protocol (`protocol.SmtpClientProtocol`):
the per-stage timeouts of RFC 5321 §4.5.3.2, STARTTLS by policy, AUTH to a
smart host (RFC 4954: PLAIN or LOGIN), SMTPUTF8 only when needed, PIPELINING
(RFC 2920: MAIL, RCPT and DATA go in one write when the server offers it, so
a message costs two round trips instead of four), and RSET after a refused
transaction so the connection serves the next message. aiosmtplib, used
before, waits for each reply and drops reply bytes that arrive while an
earlier reply awaits pickup, so it cannot pipeline (docs/architecture.md).

When no reply came (refused, timed out, dropped, TLS broken) the error carries
code 0, "no SMTP reply", and a ``kind`` for `replies.classify_connection_error`:
a made-up 421 would read as the server throttling us and slow the whole lane.
Nothing here logs addresses, credentials or message content.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal, Self

from courriel.config import Settings
from courriel.core.wire import dot_stuff, is_valid_path, unverified_tls_context
from courriel.delivery.dane import check_peer
from courriel.delivery.mx import MxHost, MxResult
from courriel.delivery.protocol import ProtocolError, Reply, SmtpClientProtocol
from courriel.delivery.sources import SourceAddress
from courriel.delivery.tlspolicy import HostPlan, TransportSecurity, TransportSecurityError

__all__ = [
    "NO_REPLY",
    "ProtocolError",
    "SmtpReply",
    "SmtpSession",
    "SmtpSessionError",
    "SmtpStage",
    "SmtpTimeouts",
    "TlsPolicy",
]

log = logging.getLogger(__name__)

# How long a closing session waits for the server to hang up after QUIT.
QUIT_WAIT_S = 2.0
# Judges the server's certificate (DER) after the handshake: None, or why not.
PeerCheck = Callable[[bytes | None], str | None]
SmtpStage = Literal["connect", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "network"]
TlsPolicy = Literal["opportunistic", "required", "off"]
NO_REPLY = 0

# A command line, the stage it belongs to, and the seconds to wait for its reply.
_Command = tuple[bytes, SmtpStage, float]

# RFC 5321 §3.2: a server that does not know EHLO says so with 500 or 502
# (some with 501 or 504); the client then falls back to HELO.
_EHLO_UNKNOWN = frozenset({500, 501, 502, 504})


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
    a dead host the next MX may replace. ``command`` (EHLO, STARTTLS, AUTH,
    RSET) is not in the RFC either; it gets MAIL's five minutes.
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

    def __init__(
        self, wire: SmtpClientProtocol, timeouts: SmtpTimeouts, extensions: set[str], *, tls: bool
    ) -> None:
        self._wire = wire
        self._timeouts = timeouts
        self._extensions = extensions
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
        server_name: str | None = None,
        peer_check: PeerCheck | None = None,
        source_address: str | None = None,
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
        ``server_name`` is the name TLS sends (SNI) and verifies (default:
        ``host``, which may be an address); ``peer_check`` judges the
        certificate after the handshake (DANE): a reason fails the session.
        ``source_address`` is the local address the connection leaves from
        (an IP pool's); None lets the system choose.
        """
        sock = await _connect_socket(host, port, timeouts.connect, source_address)
        loop = asyncio.get_running_loop()
        try:
            _, wire = await loop.create_connection(lambda: SmtpClientProtocol(loop), sock=sock)
        except OSError as exc:
            sock.close()
            raise _network_error("connect", exc) from exc
        opening = _Opening(wire, server_name or host, timeouts, peer_check)
        try:
            await opening.greeting()
            extensions = await opening.hello(helo_name)
            secured = await opening.starttls(tls, tls_context, extensions)
            if secured:
                # RFC 3207 §4.2: forget what was learnt before TLS; EHLO again.
                extensions = await opening.hello(helo_name)
            if credentials is not None:
                await opening.login(credentials, extensions)
        except SmtpSessionError as exc:
            wire.abort()
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
                    source_address=source_address,
                )
            raise
        except BaseException:
            wire.abort()
            raise
        log.debug("SMTP session open to %s:%d (TLS: %s)", host, port, secured)
        return cls(opening.wire, timeouts, extensions, tls=secured)

    @property
    def usable(self) -> bool:
        """Whether the connection can carry another transaction."""
        return self._usable and self._wire.connected

    @property
    def tls(self) -> bool:
        """Whether STARTTLS succeeded on this connection."""
        return self._tls

    @property
    def pipelining(self) -> bool:
        """Whether the server offered PIPELINING (RFC 2920), so we use it."""
        return "PIPELINING" in self._extensions

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
        return await self.send_transfer(mail_from, rcpt, dot_stuff(data))

    async def send_transfer(self, mail_from: str, rcpt: str, data: bytes) -> SmtpReply:
        """`send` for ``data`` already in its transfer form (`wire.dot_stuff`'s result).

        The spool keeps messages in that form, so a delivery attempt writes
        the stored bytes without scanning them again.
        """
        if not self.usable:
            raise SmtpSessionError(
                SmtpReply(NO_REPLY, "session closed", "network"), kind="connection-lost"
            )
        options = self._mail_options(mail_from, rcpt, data)
        if isinstance(options, SmtpReply):
            return options
        encoding = "utf-8" if "SMTPUTF8" in options else "ascii"
        parameters = "".join(f" {option}" for option in options)
        t = self._timeouts
        commands: tuple[_Command, ...] = (
            (f"MAIL FROM:<{mail_from}>{parameters}\r\n".encode(encoding), "mail", t.mail),
            (f"RCPT TO:<{rcpt}>\r\n".encode(encoding), "rcpt", t.rcpt),
            (b"DATA\r\n", "data", t.data_init),
        )
        try:
            replies = await self._envelope(commands)
            refusal = next(
                (
                    (reply, stage)
                    for reply, (_, stage, _) in zip(replies, commands, strict=False)
                    if not _positive(stage, reply.code)
                ),
                None,
            )
            if refusal is not None:
                reply, stage = refusal
                if len(replies) == len(commands) and replies[-1].code == 354:
                    # RFC 2920 §3.1: a server that (wrongly) took DATA after
                    # refusing the recipient gets an empty message, which it
                    # must refuse for want of recipients; then we RSET.
                    self._wire.write(b".\r\n")
                    await self._wire.read(t.data_end)
                return await self._refused(reply, stage)
            self._wire.write(data)
            # The transport buffers the whole message, so no single send can be
            # timed: the final wait covers one data block's transfer, then the
            # server's processing (RFC 5321 §4.5.3.2.5-6).
            final = await self._wire.read(t.data_block + t.data_end)
        except (OSError, TimeoutError) as exc:
            raise self._broken(exc) from exc
        if not 200 <= final.code < 300:
            return await self._refused(final, "data")
        self._messages_sent += 1
        return SmtpReply(final.code, final.text, "data")

    async def _envelope(self, commands: tuple[_Command, ...]) -> list[Reply]:
        """MAIL, RCPT, DATA: pipelined in one write when offered, else one by one.

        Pipelined, every reply is read (RFC 2920 §3.1: the client checks each
        one) unless a 421 closes the connection first. One by one, the first
        refusal ends the transaction.
        """
        wire = self._wire
        replies: list[Reply] = []
        if self.pipelining:
            wire.write(b"".join(command for command, _, _ in commands))
            for _, _, seconds in commands:
                reply = await wire.read(seconds)
                replies.append(reply)
                if reply.code == 421:
                    break
            return replies
        for command, stage, seconds in commands:
            wire.write(command)
            reply = await wire.read(seconds)
            replies.append(reply)
            if not _positive(stage, reply.code):
                break
        return replies

    async def close(self) -> None:
        """Say QUIT, let the server end the session, then close.

        RFC 5321 §4.1.1.10: the server answers 221 and closes. Waiting for that
        close (at most `QUIT_WAIT_S`) costs a round trip per session, not per
        message, and it matters: the lane's connection slot is given back after
        this, and another engine may open a session at once; a server that still
        counted the old one would see one more than the lane allows.
        """
        self._usable = False
        if self._wire.connected:
            with contextlib.suppress(OSError):
                self._wire.write(b"QUIT\r\n")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._wire.ended), QUIT_WAIT_S)
        self._wire.close()

    def _mail_options(self, mail_from: str, rcpt: str, data: bytes) -> list[str] | SmtpReply:
        """The MAIL FROM parameters, or the reply refusing what cannot be sent."""
        paths: tuple[tuple[str, SmtpStage], ...] = ((mail_from, "mail"), (rcpt, "rcpt"))
        for address, stage in paths:
            if not is_valid_path(address):
                return SmtpReply(553, "5.1.3 Address not allowed on an SMTP command line", stage)
        options: list[str] = []
        if not (mail_from.isascii() and rcpt.isascii()):
            if "SMTPUTF8" not in self._extensions:
                # RFC 6531: a non-ASCII address may only travel to a server that
                # offers SMTPUTF8; X.6.7 is its status code for this refusal.
                return SmtpReply(553, "5.6.7 Non-ASCII address needs SMTPUTF8", "mail")
            options.append("SMTPUTF8")
        if "8BITMIME" in self._extensions and not data.isascii():
            options.append("BODY=8BITMIME")  # RFC 6152.
        return options

    async def _refused(self, reply: Reply, stage: SmtpStage) -> SmtpReply:
        # RFC 5321 §4.1.1.5: RSET aborts the transaction and keeps the session,
        # unless the server is closing it (§3.8: 421) or RSET fails too.
        reset: Reply | None = None
        if reply.code != 421 and self._wire.connected:
            try:
                self._wire.write(b"RSET\r\n")
                reset = await self._wire.read(self._timeouts.command)
            except (OSError, TimeoutError):
                reset = None
        if reset is None or not 200 <= reset.code < 300:
            self._usable = False
            self._wire.close()
        return SmtpReply(reply.code, reply.text, stage)

    def _broken(self, exc: BaseException) -> SmtpSessionError:
        self._usable = False
        self._wire.abort()
        return _network_error("network", exc)


class _Opening:
    """The commands of a session's opening: greeting, EHLO, STARTTLS, AUTH."""

    def __init__(
        self,
        wire: SmtpClientProtocol,
        host: str,
        timeouts: SmtpTimeouts,
        peer_check: PeerCheck | None = None,
    ) -> None:
        self.wire = wire
        self.host = host
        self.timeouts = timeouts
        self.peer_check = peer_check

    async def reply(self, stage: SmtpStage, seconds: float) -> Reply:
        try:
            return await self.wire.read(seconds)
        except (OSError, TimeoutError) as exc:
            raise _network_error(stage, exc) from exc

    async def command(self, stage: SmtpStage, line: bytes) -> Reply:
        try:
            self.wire.write(line)
        except OSError as exc:
            raise _network_error(stage, exc) from exc
        return await self.reply(stage, self.timeouts.command)

    async def greeting(self) -> None:
        """Read the 220 greeting; any other refuses the session (RFC 5321 §3.1)."""
        greeting = await self.reply("connect", self.timeouts.greeting)
        if greeting.code != 220:
            # A 554 greeting still expects our QUIT before the server closes.
            with contextlib.suppress(OSError):
                self.wire.write(b"QUIT\r\n")
            raise SmtpSessionError(SmtpReply(greeting.code, greeting.text, "connect"))

    async def hello(self, name: str) -> set[str]:
        """EHLO (or HELO for an old server); return the extensions offered, upper-case."""
        reply = await self.command("ehlo", f"EHLO {name}\r\n".encode("ascii"))
        if reply.code == 250:
            # RFC 5321 §4.1.1.1: the first line greets, each next one is
            # "KEYWORD [PARAMETERS]". AUTH's mechanisms are kept as "AUTH <mech>".
            extensions: set[str] = set()
            for line in reply.lines[1:]:
                keyword, _, parameters = line.strip().upper().partition(" ")
                extensions.add(keyword)
                if keyword == "AUTH":
                    extensions.update(f"AUTH {m}" for m in parameters.split())
            return extensions
        if reply.code in _EHLO_UNKNOWN and self.wire.connected:
            reply = await self.command("ehlo", f"HELO {name}\r\n".encode("ascii"))
            if reply.code == 250:
                return set()
        raise SmtpSessionError(SmtpReply(reply.code, reply.text, "ehlo"))

    async def starttls(
        self, policy: TlsPolicy, context: ssl.SSLContext | None, extensions: set[str]
    ) -> bool:
        """Upgrade to TLS as ``policy`` says; return whether the session is encrypted."""
        if policy == "off":
            return False
        if "STARTTLS" not in extensions:
            if policy == "required":
                reply = SmtpReply(NO_REPLY, "TLS required but STARTTLS not offered", "starttls")
                raise SmtpSessionError(reply, kind="tls-unavailable")
            return False
        answer = await self.command("starttls", b"STARTTLS\r\n")
        if answer.code != 220:
            # RFC 3207 §4: a refusal (454) leaves the session usable in
            # cleartext, which opportunistic TLS accepts. For required TLS it is
            # a deferral, not the server's verdict on us: no reply code.
            if policy == "required":
                text = f"STARTTLS refused: {answer.code} {answer.text}"
                raise SmtpSessionError(
                    SmtpReply(NO_REPLY, text, "starttls"), kind="tls-unavailable"
                )
            return False
        transport = self.wire.transport
        if transport is None:
            raise _network_error("starttls", ConnectionResetError("connection closed"))
        loop = asyncio.get_running_loop()
        try:
            secure = await loop.start_tls(
                transport,
                self.wire,
                context or unverified_tls_context(),
                server_hostname=self.host,
                ssl_handshake_timeout=self.timeouts.command,
            )
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            # The handshake broke and took the connection with it.
            reply = SmtpReply(NO_REPLY, f"TLS handshake failed: {exc}", "starttls")
            raise SmtpSessionError(reply, kind="tls-failed") from exc
        except OSError as exc:
            raise _network_error("starttls", exc) from exc
        if secure is None:
            raise _network_error("starttls", ConnectionResetError("connection closed"))
        self.wire.transport = secure
        self.authenticate(secure)
        return True

    def authenticate(self, secure: asyncio.BaseTransport) -> None:
        """Run `peer_check` on the server's certificate; its refusal fails the session."""
        if self.peer_check is None:
            return
        tls_object = secure.get_extra_info("ssl_object")
        leaf = tls_object.getpeercert(binary_form=True) if tls_object is not None else None
        refusal = self.peer_check(leaf)
        if refusal is not None:
            reply = SmtpReply(NO_REPLY, f"TLS peer not authenticated: {refusal}", "starttls")
            raise SmtpSessionError(reply, kind="tls-unauthenticated")

    async def login(self, credentials: tuple[str, str], extensions: set[str]) -> None:
        """AUTH PLAIN, else AUTH LOGIN (RFC 4954); any refusal is a configuration error."""
        username, password = credentials
        if "AUTH PLAIN" in extensions:
            token = _b64(f"\0{username}\0{password}")
            reply = await self.command("auth", b"AUTH PLAIN " + token + b"\r\n")
        elif "AUTH LOGIN" in extensions:
            # The LOGIN mechanism (draft-murchison-sasl-login): the server
            # asks for the user name, then the password, each base64-encoded.
            reply = await self.command("auth", b"AUTH LOGIN\r\n")
            for secret in (username, password):
                if reply.code != 334:
                    break
                reply = await self.command("auth", _b64(secret) + b"\r\n")
        else:
            text = "AUTH unavailable: the server offers neither PLAIN nor LOGIN"
            raise SmtpSessionError(SmtpReply(NO_REPLY, text, "auth"), kind="auth-failed")
        if reply.code != 235:
            text = f"AUTH refused: {reply.code} {reply.text}"
            raise SmtpSessionError(SmtpReply(NO_REPLY, text, "auth"), kind="auth-failed")


def _positive(stage: SmtpStage, code: int) -> bool:
    # RFC 5321 §4.3.2: MAIL and RCPT succeed with 250 (251, 252 too); DATA
    # with 354, the go-ahead for the content.
    return code == 354 if stage == "data" else 200 <= code < 300


def _b64(text: str) -> bytes:
    return base64.b64encode(text.encode("utf-8"))


async def _connect_socket(
    host: str, port: int, seconds: float, source_address: str | None = None
) -> socket.socket:
    """Open the TCP connection within ``seconds``, trying each address in turn.

    RFC 5321 §4.5.3.2.1 grants the greeting five minutes, far too long to
    wait for a SYN, so the TCP handshake has its own, shorter timeout. With
    ``source_address`` the socket is bound to it first (port 0: any), and
    only destination addresses of its family are tried.
    """
    loop = asyncio.get_running_loop()
    last: BaseException | None = None
    sock: socket.socket | None = None
    try:
        async with asyncio.timeout(seconds):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            for family, type_, proto, _, address in infos:
                if source_address is not None and family != _family(source_address):
                    continue
                sock = socket.socket(family, type_, proto)
                sock.setblocking(False)  # noqa: FBT003
                if source_address is not None:
                    _bind(sock, source_address)
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


def _bind(sock: socket.socket, source_address: str) -> None:
    """Bind ``sock`` to an IP pool's address; an address this host lacks fails the session.

    Its own kind, so the reply stored with the deferred message says which
    address is missing on which host rather than looking like a network fault.
    """
    try:
        sock.bind((source_address, 0))
    except OSError as exc:
        text = f"source-address: cannot send from {source_address} on this host: {exc}"
        reply = SmtpReply(NO_REPLY, text, "connect")
        raise SmtpSessionError(reply, kind="source-address") from exc


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def verified_tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A client context that verifies the certificate chain and the host name.

    Against `ca_file` when given, else the system store (RFC 6125 name
    checks, IP addresses included).
    """
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class Connector:
    """How this installation reaches a destination: the connection opening policy.

    With a smart host configured every domain's mail goes there (with its
    credentials and TLS mode); otherwise to the domain's exchangers, tried
    in preference order (RFC 5321 §5.1) until one answers, with STARTTLS as
    the settings say.
    """

    def __init__(self, settings: Settings, security: TransportSecurity | None = None) -> None:
        self._settings = settings
        # MTA-STS and DANE towards MX hosts (not towards a smart host: ours).
        self._security = security

    def _host_tls(
        self, plan: HostPlan, tls: TlsPolicy, context: ssl.SSLContext | None
    ) -> tuple[TlsPolicy, ssl.SSLContext | None, PeerCheck | None]:
        """The TLS level, context and certificate check `plan` demands of its host."""
        if plan.mode == "mta-sts":
            # RFC 8461 §4.2: a certificate valid (PKIX) for the MX host name.
            return "required", verified_tls_context(self._settings.mx_tls_ca_file), None
        if plan.mode == "dane":
            # RFC 7672 §3: the TLSA records, not a CA store, vouch for the key.
            return "required", unverified_tls_context(), partial(check_peer, plan.tlsa)
        return tls, context, None

    def smart_route(self, domain: str) -> MxResult | None:
        """The smart host as the route of `domain`, or None to look up its MX."""
        s = self._settings
        if not s.smart_host:
            return None
        host = MxHost(s.smart_host, 0, address=s.smart_host, port=s.smart_host_port)
        return MxResult(domain, (host,))

    async def open(self, mx: MxResult, source: SourceAddress | None = None) -> SmtpSession:
        """A session to the first exchanger of `mx` that answers.

        From ``source`` (an IP pool's address, greeting with its name) when
        given, else from the address the system picks, greeting as the
        ``helo_name`` setting says.
        """
        s = self._settings
        credentials = None
        if s.smart_host and s.smart_host_username:
            password = s.smart_host_password.get_secret_value() if s.smart_host_password else ""
            credentials = (s.smart_host_username, password)
        tls = s.smart_host_tls if s.smart_host else s.smtp_tls
        context = None
        if s.smart_host:
            # Credentials go only to the smart host we configured: over TLS
            # whose certificate and name are verified (an impostor answering
            # for it would otherwise collect them). Opportunistic TLS, which
            # falls back to cleartext, becomes required once a secret is sent;
            # "off" stays the operator's explicit choice (a relay on loopback).
            if credentials is not None and tls == "opportunistic":
                tls = "required"
            if tls == "required":
                context = verified_tls_context(s.smart_host_ca_file)
        plans = [HostPlan(host, "opportunistic") for host in mx.hosts]
        if self._security is not None and not s.smart_host:
            try:
                plans = await self._security.plan(mx)
            except TransportSecurityError as exc:
                reply = SmtpReply(NO_REPLY, str(exc), "connect")
                raise SmtpSessionError(reply, kind="tls-policy") from exc
        failure: SmtpSessionError | None = None
        for plan in plans:
            host = plan.host
            address = host.address or host.name
            port = host.port if host.address else s.smtp_port
            host_tls, host_context, check = self._host_tls(plan, tls, context)
            try:
                return await SmtpSession.open(
                    address,
                    port,
                    helo_name=source.helo_name if source else s.helo_name,
                    tls=host_tls,
                    tls_context=host_context,
                    credentials=credentials,
                    server_name=host.name,
                    peer_check=check,
                    source_address=source.address if source else None,
                )
            except SmtpSessionError as exc:
                failure = exc  # The next exchanger may answer.
        assert failure is not None
        raise failure
