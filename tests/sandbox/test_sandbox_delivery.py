"""Mail sent over real SMTP to each simulated provider lands in its mailboxes."""

from __future__ import annotations

import asyncio
import email.policy
from email.message import EmailMessage
from typing import TYPE_CHECKING

import aiosmtplib
import pytest

from courriel.sandbox.behaviour import REPLY_RELAY_DENIED, REPLY_UNKNOWN_USER
from courriel.sandbox.providers import DEFAULT_PROVIDERS, Provider
from courriel.sandbox.server import Sandbox

if TYPE_CHECKING:
    from pathlib import Path


def build_message(sender: str, to: str, subject: str, body: str, html: str | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message.as_bytes(policy=email.policy.SMTP)


async def connect(sandbox: Sandbox, provider: Provider) -> aiosmtplib.SMTP:
    ip, port = sandbox.zone.hosts[provider.mx_host]
    client = aiosmtplib.SMTP(hostname=ip, port=port, local_hostname="mta.courriel.test")
    await client.connect()
    return client


@pytest.mark.parametrize("provider", DEFAULT_PROVIDERS, ids=lambda p: p.name)
def test_delivery_to_each_provider_lands_in_the_store(tmp_path: Path, provider: Provider) -> None:
    rcpt = f"alice@{provider.domains[-1]}"

    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            client = await connect(sandbox, provider)
            message = build_message("news@shop.test", rcpt, "Soldes d'été", "Bonjour Alice")
            refused, reply = await client.sendmail("bounce+1@shop.test", [rcpt], message)
            await client.quit()
            assert refused == {}
            assert reply.startswith("2.0.0 OK queued as ")

            [received] = sandbox.store.inbox(rcpt)
            assert received.provider == provider.name
            assert received.mail_from == "bounce+1@shop.test"
            assert received.rcpt == rcpt
            assert received.subject == "Soldes d'été"
            assert received.text.strip() == "Bonjour Alice"
            assert reply.endswith(str(received.id))
            # The final delivery trace of RFC 5321 §4.4 is added on top.
            parsed = received.as_email()
            assert parsed["Return-Path"] == "<bounce+1@shop.test>"
            assert f"by {provider.mx_host}" in str(parsed["Received"])

    asyncio.run(scenario())


def test_greeting_and_extensions_look_like_the_provider(tmp_path: Path) -> None:
    google = DEFAULT_PROVIDERS[0]

    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            ip, port = sandbox.zone.hosts[google.mx_host]
            client = aiosmtplib.SMTP(hostname=ip, port=port)
            greeting = await client.connect()
            assert greeting.code == 220
            assert greeting.message.startswith(google.mx_host)
            await client.ehlo()
            for extension in ("8bitmime", "smtputf8", "size"):
                assert client.supports_extension(extension)
            await client.quit()

    asyncio.run(scenario())


def test_only_refused_recipients_miss_the_message(tmp_path: Path) -> None:
    google = DEFAULT_PROVIDERS[0]
    good, gone = "bob@gmail.test", "unknown-carol@gmail.test"

    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            client = await connect(sandbox, google)
            message = build_message("a@shop.test", good, "Hi", "text")
            refused, _ = await client.sendmail("a@shop.test", [good, gone], message)
            await client.quit()
            assert str(refused[gone]) == REPLY_UNKNOWN_USER
            assert sandbox.store.count(good) == 1
            assert sandbox.store.count(gone) == 0

    asyncio.run(scenario())


def test_a_provider_refuses_domains_it_does_not_host(tmp_path: Path) -> None:
    google = DEFAULT_PROVIDERS[0]

    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            client = await connect(sandbox, google)
            await client.mail("a@shop.test")
            reply = await client.execute_command(b"RCPT", b"TO:<bob@yahoo.test>")
            await client.quit()
            assert str(reply) == REPLY_RELAY_DENIED

    asyncio.run(scenario())


def test_inbox_is_newest_first_and_case_insensitive(tmp_path: Path) -> None:
    yahoo = DEFAULT_PROVIDERS[1]

    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            client = await connect(sandbox, yahoo)
            for n in range(3):
                message = build_message("a@shop.test", "Dana@Yahoo.test", f"n{n}", "x")
                await client.sendmail("a@shop.test", ["Dana@Yahoo.test"], message)
            await client.quit()
            subjects = [m.subject for m in sandbox.store.inbox("dana@yahoo.TEST")]
            assert subjects == ["n2", "n1", "n0"]
            assert [m.subject for m in sandbox.store.inbox("dana@yahoo.test", limit=1)] == ["n2"]
            assert sandbox.store.all_recipients() == {"dana@yahoo.test": 3}

    asyncio.run(scenario())


def test_null_sender_and_utf8_address_are_accepted(tmp_path: Path) -> None:
    microsoft = DEFAULT_PROVIDERS[2]
    rcpt = "zoé@outlook.test"

    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            client = await connect(sandbox, microsoft)
            message = build_message("mailer-daemon@shop.test", rcpt, "Bounce", "gone")
            # RFC 5321 §4.5.5: notifications are sent with the null reverse-path.
            refused, _ = await client.sendmail("", [rcpt], message, mail_options=["SMTPUTF8"])
            await client.quit()
            assert refused == {}
            [received] = sandbox.store.inbox("ZOÉ@outlook.test")
            assert received.mail_from == ""

    asyncio.run(scenario())
