"""The SMTP client against a real aiosmtpd server on a loopback socket."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosmtpd.smtp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from courriel.core.wire import dot_stuff
from courriel.delivery.smtp import (
    SmtpReply,
    SmtpSession,
    SmtpSessionError,
    SmtpTimeouts,
)

MESSAGE = b"From: a@sender.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nHello.\r\n"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    mail_options: list[str]
    tls: bool


@dataclass
class RecordingHandler:
    """Records what it received; `fail_next` makes the next command at a stage fail.

    The ``handle_*`` names are aiosmtpd's hooks (hence noqa: N802).
    """

    received: list[Received] = field(default_factory=list)
    resets: int = 0
    drop_next_data: bool = False
    pipelining: bool = False
    _failures: dict[str, str] = field(default_factory=dict)

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    def fail_next(self, stage: str, code: int, text: str) -> None:
        self._failures[stage] = f"{code} {text}"

    async def handle_MAIL(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if failure := self._failures.pop("mail", None):
            return failure
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if failure := self._failures.pop("rcpt", None):
            return failure
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.drop_next_data:
            self.drop_next_data = False
            server.transport.abort()
            return "250 2.0.0 never seen"
        if failure := self._failures.pop("data", None):
            return failure
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.content,
                list(envelope.mail_options),
                tls=session.ssl is not None,
            )
        )
        return "250 2.0.0 Queued"

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.resets += 1
        return "250 2.0.0 OK"


@dataclass
class Server:
    handler: RecordingHandler
    port: int
    connections: int = 0


@asynccontextmanager
async def smtp_server(**options: Any) -> AsyncIterator[Server]:
    """A real aiosmtpd server on 127.0.0.1, on the running loop."""
    handler = RecordingHandler()
    server = Server(handler, port=0)

    def factory() -> aiosmtpd.smtp.SMTP:
        server.connections += 1
        return aiosmtpd.smtp.SMTP(handler, hostname="mx.example.test", **options)

    listener = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        await listener.wait_closed()


async def open_session(server: Server, **options: Any) -> SmtpSession:
    return await SmtpSession.open(
        "127.0.0.1", server.port, helo_name="out.courriel.test", **options
    )


@asynccontextmanager
async def scripted_server(replies: dict[bytes, bytes]) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A server that greets, then answers each command line by its verb from ``replies``.

    It records every chunk it reads, so a test can see what came in one write.
    """
    chunks: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.example.test ESMTP\r\n")
        in_data = False
        while chunk := await reader.read(65536):
            chunks.append(chunk)
            for line in chunk.split(b"\r\n")[:-1]:
                if in_data:
                    in_data = line != b"."
                    if not in_data:
                        writer.write(b"250 2.0.0 Queued\r\n")
                    continue
                verb = line.split(b" ", 1)[0].split(b":", 1)[0].upper()
                writer.write(replies.get(verb, b"250 OK") + b"\r\n")
                in_data = verb == b"DATA" and replies.get(verb, b"").startswith(b"354")
        writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield listener.sockets[0].getsockname()[1], chunks
    finally:
        listener.close()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 10))


def self_signed_context(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx.example.test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def test_two_messages_over_one_connection() -> None:
    async def scenario() -> None:
        async with smtp_server() as server:
            session = await open_session(server, tls="off")
            first = await session.send("bounce@sender.test", "one@example.test", MESSAGE)
            second = await session.send("bounce@sender.test", "two@example.test", MESSAGE)
            await session.close()
        assert first == SmtpReply(250, "2.0.0 Queued", "data")
        assert second.code == 250
        assert session.messages_sent == 2
        assert server.connections == 1
        assert [r.rcpt_tos for r in server.handler.received] == [
            ["one@example.test"],
            ["two@example.test"],
        ]
        assert server.handler.received[0].content == MESSAGE

    run(scenario)


def test_refused_recipient_is_reset_and_the_session_goes_on() -> None:
    async def scenario() -> None:
        async with smtp_server() as server:
            session = await open_session(server, tls="off")
            server.handler.fail_next("rcpt", 550, "5.1.1 The email account does not exist")
            refused = await session.send("bounce@sender.test", "ghost@example.test", MESSAGE)
            accepted = await session.send("bounce@sender.test", "real@example.test", MESSAGE)
            await session.close()
        assert refused == SmtpReply(550, "5.1.1 The email account does not exist", "rcpt")
        assert accepted.code == 250
        assert server.handler.resets == 1
        assert server.connections == 1
        assert [r.rcpt_tos for r in server.handler.received] == [["real@example.test"]]
        assert session.messages_sent == 1

    run(scenario)


def test_temporary_failure_after_data() -> None:
    async def scenario() -> None:
        async with smtp_server() as server:
            session = await open_session(server, tls="off")
            server.handler.fail_next("data", 451, "4.3.0 Try again later")
            deferred = await session.send("bounce@sender.test", "b@example.test", MESSAGE)
            assert session.usable
            accepted = await session.send("bounce@sender.test", "b@example.test", MESSAGE)
            await session.close()
        assert deferred == SmtpReply(451, "4.3.0 Try again later", "data")
        assert accepted.code == 250
        assert len(server.handler.received) == 1

    run(scenario)


def test_421_ends_the_session() -> None:
    async def scenario() -> None:
        async with smtp_server() as server:
            session = await open_session(server, tls="off")
            server.handler.fail_next("mail", 421, "4.7.0 Too many connections, slow down")
            reply = await session.send("bounce@sender.test", "b@example.test", MESSAGE)
            assert reply.code == 421
            assert reply.stage == "mail"
            assert not session.usable
            with pytest.raises(SmtpSessionError) as caught:
                await session.send("bounce@sender.test", "b@example.test", MESSAGE)
            assert caught.value.reply.stage == "network"
            await session.close()

    run(scenario)


def test_opportunistic_starttls_accepts_a_self_signed_certificate(tmp_path: Path) -> None:
    context = self_signed_context(tmp_path)

    async def scenario() -> None:
        async with smtp_server(tls_context=context, require_starttls=True) as server:
            session = await open_session(server)
            reply = await session.send("bounce@sender.test", "b@example.test", MESSAGE)
            await session.close()
        assert session.tls
        assert reply.code == 250
        assert server.handler.received[0].tls

    run(scenario)


def test_required_tls_fails_when_starttls_is_not_offered() -> None:
    async def scenario() -> None:
        async with smtp_server() as server:
            with pytest.raises(SmtpSessionError) as caught:
                await open_session(server, tls="required")
        assert caught.value.reply.stage == "starttls"
        assert caught.value.reply.code == 0
        assert caught.value.kind == "tls-unavailable"
        assert "STARTTLS not offered" in str(caught.value)

    run(scenario)


def test_opportunistic_tls_falls_back_to_cleartext_when_the_handshake_fails(
    tmp_path: Path,
) -> None:
    # A server that demands a client certificate during a TLS 1.2 handshake:
    # we have none, so every handshake breaks.
    context = self_signed_context(tmp_path)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(tmp_path / "cert.pem")

    async def scenario() -> None:
        async with smtp_server(tls_context=context) as server:
            session = await open_session(server)
            reply = await session.send("bounce@sender.test", "b@example.test", MESSAGE)
            await session.close()
            with pytest.raises(SmtpSessionError) as caught:
                await open_session(server, tls="required")
        assert not session.tls
        assert reply.code == 250
        assert server.connections == 3
        assert caught.value.kind == "tls-failed"

    run(scenario)


def test_non_ascii_address_needs_smtputf8() -> None:
    async def scenario() -> None:
        async with smtp_server() as server:
            session = await open_session(server, tls="off")
            reply = await session.send("bounce@sender.test", "jörg@example.test", MESSAGE)
            assert session.usable
            await session.close()
        assert reply == SmtpReply(553, "5.6.7 Non-ASCII address needs SMTPUTF8", "mail")
        assert server.handler.received == []

    run(scenario)


def test_non_ascii_address_goes_to_a_server_with_smtputf8() -> None:
    async def scenario() -> None:
        async with smtp_server(enable_SMTPUTF8=True) as server:
            session = await open_session(server, tls="off")
            reply = await session.send("bounce@sender.test", "jörg@exämple.test", MESSAGE)
            await session.close()
        assert reply.code == 250
        [received] = server.handler.received
        assert received.rcpt_tos == ["jörg@exämple.test"]
        assert "SMTPUTF8" in received.mail_options

    run(scenario)


def test_address_that_would_inject_a_command_is_refused_unsent() -> None:
    async def scenario() -> None:
        async with smtp_server() as server:
            session = await open_session(server, tls="off")
            reply = await session.send("a@sender.test", "b@example.test>\r\nRSET", MESSAGE)
            await session.close()
        assert reply.code == 553
        assert reply.stage == "rcpt"
        assert server.handler.resets == 0

    run(scenario)


def test_connection_dropped_during_data_is_a_network_error() -> None:
    async def scenario() -> None:
        async with smtp_server() as server:
            session = await open_session(server, tls="off")
            server.handler.drop_next_data = True
            with pytest.raises(SmtpSessionError) as caught:
                await session.send("bounce@sender.test", "b@example.test", MESSAGE)
            assert not session.usable
            await session.close()
        assert caught.value.reply.stage == "network"
        assert caught.value.reply.code == 0
        assert caught.value.kind == "connection-lost"

    run(scenario)


def test_connection_refused() -> None:
    async def scenario() -> None:
        async with smtp_server() as server:
            port = server.port
        with pytest.raises(SmtpSessionError) as caught:
            await SmtpSession.open("127.0.0.1", port, helo_name="out.courriel.test")
        assert caught.value.reply.stage == "connect"
        assert caught.value.kind == "refused"

    run(scenario)


def test_silent_server_times_out_at_the_greeting() -> None:
    async def scenario() -> None:
        async def say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()
            writer.close()

        listener = await asyncio.start_server(say_nothing, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        try:
            with pytest.raises(SmtpSessionError) as caught:
                await SmtpSession.open(
                    "127.0.0.1",
                    port,
                    helo_name="out.courriel.test",
                    timeouts=SmtpTimeouts(greeting=0.2),
                )
        finally:
            listener.close()
        assert caught.value.reply.stage == "connect"
        assert caught.value.kind == "timeout"

    run(scenario)


def test_lone_dots_and_bare_line_feeds_cannot_end_the_data() -> None:
    # SMTP smuggling: a bare "\n.\n" must not end DATA early anywhere.
    body = b"Subject: x\n\n.\nMAIL FROM:<evil@attacker.test>\r\n.leading dot\r\n"
    assert dot_stuff(body) == (
        b"Subject: x\r\n\r\n..\r\nMAIL FROM:<evil@attacker.test>\r\n..leading dot\r\n.\r\n"
    )

    async def scenario() -> None:
        async with smtp_server() as server:
            session = await open_session(server, tls="off")
            reply = await session.send("bounce@sender.test", "b@example.test", body)
            await session.close()
        assert reply.code == 250
        [received] = server.handler.received
        assert received.content == (
            b"Subject: x\r\n\r\n.\r\nMAIL FROM:<evil@attacker.test>\r\n.leading dot\r\n"
        )

    run(scenario)


def test_pipelining_sends_mail_rcpt_and_data_in_one_write() -> None:
    replies = {
        b"EHLO": b"250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME",
        b"DATA": b"354 Go ahead",
    }

    async def scenario() -> None:
        async with scripted_server(replies) as (port, chunks):
            session = await SmtpSession.open(
                "127.0.0.1", port, helo_name="out.courriel.test", tls="off"
            )
            reply = await session.send("bounce@sender.test", "b@example.test", MESSAGE)
            await session.close()
            await asyncio.sleep(0.05)
        assert session.pipelining
        assert reply == SmtpReply(250, "2.0.0 Queued", "data")
        # RFC 2920: one write for the envelope and DATA, one for the content.
        assert (
            chunks[1] == b"MAIL FROM:<bounce@sender.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"
        )
        assert chunks[2] == dot_stuff(MESSAGE)

    run(scenario)


def test_pipelined_refusals_are_all_read_and_the_session_goes_on() -> None:
    async def scenario() -> None:
        async with smtp_server() as server:
            server.handler.pipelining = True
            session = await open_session(server, tls="off")
            server.handler.fail_next("rcpt", 550, "5.1.1 No such user")
            refused = await session.send("bounce@sender.test", "ghost@example.test", MESSAGE)
            server.handler.fail_next("mail", 451, "4.3.0 Try later")
            deferred = await session.send("bounce@sender.test", "real@example.test", MESSAGE)
            accepted = await session.send("bounce@sender.test", "real@example.test", MESSAGE)
            await session.close()
        assert session.pipelining
        # The RCPT refusal decides, not the DATA refusal that follows it.
        assert refused == SmtpReply(550, "5.1.1 No such user", "rcpt")
        assert deferred == SmtpReply(451, "4.3.0 Try later", "mail")
        assert accepted.code == 250
        assert server.handler.resets == 2
        assert server.connections == 1
        assert [r.rcpt_tos for r in server.handler.received] == [["real@example.test"]]

    run(scenario)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_login_with_either_mechanism_then_send(tmp_path: Path, mechanism: str) -> None:
    context = self_signed_context(tmp_path)
    logins: list[tuple[str, bytes, bytes]] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, used: str, data: Any
    ) -> aiosmtpd.smtp.AuthResult:
        logins.append((used, data.login, data.password))
        ok = (data.login, data.password) == (b"courriel", b"s3cret")
        return aiosmtpd.smtp.AuthResult(success=ok, handled=False)

    other = "LOGIN" if mechanism == "PLAIN" else "PLAIN"

    async def scenario() -> None:
        async with smtp_server(
            tls_context=context,
            authenticator=authenticator,
            auth_required=True,
            auth_exclude_mechanism=[other],
        ) as server:
            session = await open_session(server, tls="required", credentials=("courriel", "s3cret"))
            reply = await session.send("bounce@sender.test", "b@example.test", MESSAGE)
            await session.close()
            with pytest.raises(SmtpSessionError) as caught:
                await open_session(server, tls="required", credentials=("courriel", "wrong"))
        assert reply.code == 250
        assert logins[0] == (mechanism, b"courriel", b"s3cret")
        assert caught.value.kind == "auth-failed"
        assert caught.value.reply.stage == "auth"
        assert "wrong" not in str(caught.value)

    run(scenario)
