"""SMTP smuggling at the relay. Only CRLF.CRLF ends DATA (RFC 5321 §4.1.1.4), and a
message carrying a bare CR or LF anywhere (RFC 5321 §2.3.8) is refused whole: a
`\\n.\\n` that some server downstream would read as the end of this message and
the start of a forged one (in the customer's name, or another tenant's) never
reaches the spool."""

from __future__ import annotations

import asyncio

import pytest

from courriel.relay.submission import RelayServer, has_bare_line_ending
from courriel.services import Services
from tests.relay.conftest import RawClient, Sender


@pytest.mark.parametrize(
    "fake_end", [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r", b"\r\n.\r\r\n"]
)
def test_bare_cr_or_lf_smuggling_is_refused_and_nothing_is_spooled(
    services: Services, relay: RelayServer, shop_a: Sender, fake_end: bytes
) -> None:
    assert relay.tls_address is not None
    port = relay.tls_address[1]

    async def scenario() -> tuple[str, str]:
        client = await RawClient.connect(port, implicit_tls=True)
        await client.command("EHLO client.test")
        assert (await client.login(shop_a)).startswith("235")
        await client.command("MAIL FROM:<orders@shop-a.test>")
        await client.command("RCPT TO:<alice@gmail.test>")
        assert (await client.command("DATA")).startswith("354")
        smuggled = (
            b"From: orders@shop-a.test\r\nSubject: first\r\n\r\nhello"
            + fake_end
            + b"MAIL FROM:<ceo@shop-b.test>\r\nRCPT TO:<victim@gmail.test>\r\nDATA\r\n"
            b"From: ceo@shop-b.test\r\nSubject: smuggled\r\n\r\npay now"
        )
        final = await client.command(smuggled + b"\r\n.")
        # The session goes on: a clean message right after is accepted.
        await client.command("MAIL FROM:<orders@shop-a.test>")
        await client.command("RCPT TO:<alice@gmail.test>")
        await client.command("DATA")
        clean = await client.command(b"From: orders@shop-a.test\r\nSubject: clean\r\n\r\nok\r\n.")
        await client.close()
        return final, clean

    final, clean = asyncio.run(scenario())
    assert final.startswith("550 5.6.0 Bare CR or LF")
    assert clean.startswith("250 2.0.0")
    assert services.spool.backlog(services.clock.now()) == 1


def test_bare_line_endings_are_found_wherever_they_are() -> None:
    assert not has_bare_line_ending(b"a\r\nb\r\n\r\n")
    for bad in (b"a\nb\r\n", b"a\rb\r\n", b"a\r\n\n", b"\r", b"\n", b"a\r\r\n"):
        assert has_bare_line_ending(bad), bad
