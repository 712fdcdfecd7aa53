"""SMTP smuggling: only CRLF.CRLF ends DATA (RFC 5321 §4.1.1.4, §2.3.8).

A server that also ends the message data at a bare-LF variant of the end
marker lets a sender hide a second transaction inside the first message's
body (CVE-2023-51764 and friends). The sandbox plays inbox providers, which
must not fall for it, so a delivery engine that emits such a sequence shows
up here as a mangled message rather than as two messages.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from courriel.sandbox.server import Sandbox

if TYPE_CHECKING:
    from pathlib import Path

SMUGGLED = (
    b"MAIL FROM:<ceo@bank.test>\r\n"
    b"RCPT TO:<victim@gmail.test>\r\n"
    b"DATA\r\n"
    b"From: ceo@bank.test\r\nSubject: smuggled\r\n\r\nPay now\r\n"
)


async def command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> bytes:
    """Send one command; return the last line of its (maybe multi-line) reply."""
    writer.write(line + b"\r\n")
    while True:
        reply = await reader.readline()
        if reply[3:4] != b"-":
            return reply


@pytest.mark.parametrize(
    "fake_end",
    [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n"],
    ids=["LF.LF", "CRLF.LF", "LF.CRLF", "CR.CRLF"],
)
def test_a_bare_line_feed_end_marker_does_not_end_data(tmp_path: Path, fake_end: bytes) -> None:
    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            ip, port = sandbox.zone.hosts["mx.google.test"]
            reader, writer = await asyncio.open_connection(ip, port)
            assert (await reader.readline()).startswith(b"220 ")
            assert (await command(reader, writer, b"EHLO mta.shop.test")).startswith(b"250 ")
            assert (await command(reader, writer, b"MAIL FROM:<a@shop.test>")).startswith(b"250")
            assert (await command(reader, writer, b"RCPT TO:<b@gmail.test>")).startswith(b"250")
            assert (await command(reader, writer, b"DATA")).startswith(b"354")

            writer.write(b"Subject: first\r\n\r\nhello" + fake_end + SMUGGLED)
            # The server is still reading message data, so it says nothing.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.readline(), timeout=0.2)

            writer.write(b".\r\n")
            assert (await reader.readline()).startswith(b"250 2.0.0 OK queued as ")
            assert (await command(reader, writer, b"QUIT")).startswith(b"221")
            writer.close()

            # One message, to the real recipient, with the smuggled part inside.
            assert sandbox.store.count() == 1
            assert sandbox.store.count("victim@gmail.test") == 0
            [received] = sandbox.store.inbox("b@gmail.test")
            assert b"MAIL FROM:<ceo@bank.test>" in received.data
            assert received.subject == "first"

    asyncio.run(scenario())
