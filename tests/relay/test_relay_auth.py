"""AUTH at the relay: only inside TLS, and wrong passwords throttled then locked
per source address (a correct password from a locked address is refused too)."""

from __future__ import annotations

import asyncio

from courriel.core.attempts import FailureThrottle
from courriel.core.clock import FrozenClock
from courriel.relay.submission import RelayServer
from courriel.services import Services
from tests.relay.conftest import RawClient, RelayThread, Sender, login, swaks


def test_auth_before_starttls_is_refused_and_not_offered(
    relay: RelayServer, shop_a: Sender
) -> None:
    assert relay.starttls_address is not None
    port = relay.starttls_address[1]

    async def scenario() -> tuple[str, str, str, str]:
        client = await RawClient.connect(port)
        ehlo = await client.command("EHLO client.test")
        auth = await client.login(shop_a)
        mail = await client.command("MAIL FROM:<orders@shop-a.test>")
        await client.starttls()
        ehlo_tls = await client.command("EHLO client.test")
        await client.close()
        return ehlo, auth, mail, ehlo_tls

    ehlo, auth, mail, ehlo_tls = asyncio.run(scenario())
    assert "STARTTLS" in ehlo
    assert "AUTH" not in ehlo
    assert auth.startswith("530")
    assert mail.startswith("530")
    assert "AUTH LOGIN PLAIN" in ehlo_tls
    # swaks told to log in without TLS gets no further than the refusal.
    plain = swaks(
        port, *login(shop_a), "--from", "orders@shop-a.test", "--to", "a@gmail.test", tls=""
    )
    assert "250 2.0.0 OK queued" not in plain


def test_mail_needs_a_login(relay: RelayServer) -> None:
    assert relay.tls_address is not None
    port = relay.tls_address[1]

    async def scenario() -> str:
        client = await RawClient.connect(port, implicit_tls=True)
        await client.command("EHLO client.test")
        reply = await client.command("MAIL FROM:<orders@shop-a.test>")
        await client.close()
        return reply

    assert asyncio.run(scenario()).startswith("530 5.7.0")


def test_wrong_passwords_are_delayed_then_locked_per_source_address(
    services: Services, shop_a: Sender
) -> None:
    # The throttle's clock moves only when the test says: a slow machine
    # cannot outwait a delay by accident.
    clock = FrozenClock()
    with RelayThread(services, FailureThrottle(clock)) as relay:
        assert relay.tls_address is not None
        port = relay.tls_address[1]

        async def attempts(passwords: list[str], source: str = "127.0.0.1") -> list[str]:
            replies = []
            for password in passwords:
                client = await RawClient.connect(port, implicit_tls=True, source=source)
                await client.command("EHLO client.test")
                replies.append(await client.login(shop_a, password))
                await client.close()
            return replies

        wrong = "ck_wrong"
        # Three free failures, a fourth that costs a delay: during it even the
        # right password is refused without being checked.
        first = asyncio.run(attempts([wrong, wrong, wrong, wrong, shop_a.key.secret]))
        assert [r[:3] for r in first] == ["535", "535", "535", "535", "454"]
        assert "try again in 1 s" in first[-1]
        clock.advance(seconds=2)
        # The fifth failure locks the address for 15 minutes.
        locked = asyncio.run(attempts([wrong, shop_a.key.secret]))
        assert [r[:3] for r in locked] == ["535", "454"]
        assert "try again in 900 s" in locked[-1]
        # Another source address is not held back by this one's failures.
        other = asyncio.run(attempts([shop_a.key.secret], source="127.0.0.2"))
        assert other[0].startswith("235")
        clock.advance(minutes=16)
        assert asyncio.run(attempts([shop_a.key.secret]))[0].startswith("235")
