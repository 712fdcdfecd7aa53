"""SMTP smuggling at the return-path server: only CRLF.CRLF ends DATA
(RFC 5321 §4.1.1.4), so a bare-LF "end" cannot hide a second report that
would suppress someone else."""

from __future__ import annotations

import asyncio

import pytest

from courriel.core.clock import SystemClock
from courriel.delivery.verp import encode_return_path
from courriel.relay.inbound import ReturnPathServer
from courriel.services import Services
from courriel.tracking.bounces import ReturnOutcome, ReturnProcessor


async def _command(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes
) -> bytes:
    writer.write(line + b"\r\n")
    while True:
        reply = await reader.readline()
        if reply[3:4] != b"-":
            return reply


@pytest.mark.parametrize("fake_end", [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r"])
def test_only_crlf_dot_crlf_ends_data(services: Services, fake_end: bytes) -> None:
    verp = encode_return_path(services.secret_key, "ten_x", "msg_x", "bounces.test")
    processor = ReturnProcessor(services.storage, SystemClock(), services.secret_key)
    seen: list[bytes] = []
    original = processor.process

    def spy(rcpt: str, data: bytes) -> ReturnOutcome:
        seen.append(data)
        return original(rcpt, data)

    processor.process = spy  # type: ignore[method-assign]

    async def scenario() -> None:
        server = ReturnPathServer(processor, "127.0.0.1", 0)
        host, port = await server.start()
        reader, writer = await asyncio.open_connection(host, port)
        await reader.readline()
        await _command(reader, writer, b"EHLO mx.test")
        await _command(reader, writer, b"MAIL FROM:<>")
        await _command(reader, writer, f"RCPT TO:<{verp}>".encode())
        assert (await _command(reader, writer, b"DATA")).startswith(b"354")
        smuggled = (
            b"Subject: report\r\n\r\nfirst" + fake_end + b"MAIL FROM:<>\r\n"
            b"RCPT TO:<" + verp.encode() + b">\r\nDATA\r\nSubject: smuggled\r\n\r\nx"
        )
        writer.write(smuggled + b"\r\n.\r\n")
        await writer.drain()
        final = await reader.readline()
        assert final.startswith(b"250")
        await _command(reader, writer, b"QUIT")
        writer.close()
        await server.stop()

    asyncio.run(scenario())
    # One message, with the would-be second transaction inside its body.
    assert len(seen) == 1
    assert b"Subject: smuggled" in seen[0]
