"""The sandbox reads message data in one piece: what arrives is what was sent.

RFC 5321 §4.5.2: the client doubles a leading dot, the server removes it;
only CRLF "." CRLF ends the data (the smuggling variants are in
test_smuggling.py).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from courriel.delivery.smtp import SmtpSession
from courriel.sandbox.server import Sandbox

if TYPE_CHECKING:
    from pathlib import Path


def test_leading_dots_lone_dots_and_an_empty_message_arrive_intact(tmp_path: Path) -> None:
    body = b"Subject: dots\r\n\r\n.\r\n..two\r\n.\r\nend.\r\n.dot first\r\n"

    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            ip, port = sandbox.zone.hosts["mx.google.test"]
            session = await SmtpSession.open(ip, port, helo_name="out.courriel.test", tls="off")
            first = await session.send("bounce@sender.test", "a@gmail.test", body)
            second = await session.send("bounce@sender.test", "b@gmail.test", b"")
            third = await session.send("bounce@sender.test", "c@gmail.test", b"." + body)
            await session.close()
            assert session.pipelining
            assert first.code == second.code == third.code == 250
            [received] = sandbox.store.inbox("a@gmail.test")
            assert received.data.endswith(b" +0000\r\n" + body)
            [empty] = sandbox.store.inbox("b@gmail.test")
            # Only the trace headers the server adds (RFC 5321 §4.4): the
            # message itself was one empty line.
            assert empty.data.endswith(b" +0000\r\n\r\n")
            [dotted] = sandbox.store.inbox("c@gmail.test")
            assert dotted.data.endswith(b" +0000\r\n." + body)

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_a_sandbox_for_benchmarks_keeps_only_the_headers(tmp_path: Path) -> None:
    body = b"Subject: big\r\nTo: a@gmail.test\r\n\r\n" + b"x" * 70 + b"\r\n" * 100

    async def scenario() -> None:
        async with Sandbox(tmp_path, store_bodies=False) as sandbox:
            ip, port = sandbox.zone.hosts["mx.google.test"]
            session = await SmtpSession.open(ip, port, helo_name="out.courriel.test", tls="off")
            reply = await session.send("bounce@sender.test", "a@gmail.test", body)
            await session.close()
            assert reply.code == 250
            [received] = sandbox.store.inbox("a@gmail.test")
            assert received.subject == "big"
            assert received.data.endswith(b"To: a@gmail.test\r\n")
            assert b"xxx" not in received.data

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_pipelined_commands_get_every_reply_in_order(tmp_path: Path) -> None:
    """RFC 2920 §3.2: replies to a group may be held, never lost or reordered."""

    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            ip, port = sandbox.zone.hosts["mx.google.test"]
            reader, writer = await asyncio.open_connection(ip, port)
            assert (await reader.readline()).startswith(b"220 ")
            writer.write(b"EHLO out.courriel.test\r\n")
            while (await reader.readline())[3:4] == b"-":
                pass
            # One group: two recipients accepted, one refused (RFC 5321 §3.3:
            # for that recipient only), then DATA.
            writer.write(
                b"MAIL FROM:<bounce@sender.test>\r\n"
                b"RCPT TO:<a@gmail.test>\r\n"
                b"RCPT TO:<unknown-b@gmail.test>\r\n"
                b"RCPT TO:<c@gmail.test>\r\n"
                b"DATA\r\n"
            )
            codes = [(await reader.readline())[:3] for _ in range(5)]
            assert codes == [b"250", b"250", b"550", b"250", b"354"]
            writer.write(b"Subject: group\r\n\r\nhi\r\n.\r\nQUIT\r\n")
            assert (await reader.readline()).startswith(b"250 2.0.0 OK queued as ")
            assert (await reader.readline()).startswith(b"221")
            writer.close()
            assert sandbox.store.count("a@gmail.test") == sandbox.store.count("c@gmail.test") == 1
            assert sandbox.store.count("unknown-b@gmail.test") == 0

    asyncio.run(asyncio.wait_for(scenario(), 10))
