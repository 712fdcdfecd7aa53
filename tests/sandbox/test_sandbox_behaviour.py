"""Recipient rules and scripted failures give their replies over real SMTP."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiosmtplib
import pytest

from courriel.sandbox.behaviour import (
    REPLY_ACCEPTED_RCPT,
    REPLY_BAD_SEQUENCE,
    REPLY_CLOSING,
    REPLY_MAILBOX_FULL,
    REPLY_POLICY_BLOCK,
    REPLY_TRY_AGAIN_LATER,
    REPLY_UNKNOWN_USER,
    Behaviour,
)
from courriel.sandbox.server import Sandbox

if TYPE_CHECKING:
    from pathlib import Path

MESSAGE = b"From: a@shop.test\r\nTo: b@gmail.test\r\nSubject: s\r\n\r\nbody\r\n"


async def google(sandbox: Sandbox) -> aiosmtplib.SMTP:
    ip, port = sandbox.zone.hosts["mx.google.test"]
    client = aiosmtplib.SMTP(hostname=ip, port=port)
    await client.connect()
    await client.ehlo()
    return client


async def rcpt_reply(client: aiosmtplib.SMTP, address: str) -> str:
    return str(await client.execute_command(b"RCPT", f"TO:<{address}>".encode()))


@pytest.mark.parametrize(
    ("local_part", "reply"),
    [
        ("unknown-bob", REPLY_UNKNOWN_USER),
        ("full-bob", REPLY_MAILBOX_FULL),
        ("block-bob", REPLY_POLICY_BLOCK),
        ("defer-bob", REPLY_TRY_AGAIN_LATER),
        ("Unknown-Bob", REPLY_UNKNOWN_USER),
        ("bob", REPLY_ACCEPTED_RCPT),
    ],
)
def test_recipient_rules_by_local_part_prefix(tmp_path: Path, local_part: str, reply: str) -> None:
    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            client = await google(sandbox)
            await client.mail("a@shop.test")
            assert await rcpt_reply(client, f"{local_part}@gmail.test") == reply
            await client.quit()

    asyncio.run(scenario())


def test_fail_next_rcpt_fails_count_times_then_clears(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            sandbox.behaviours["google"].fail_next("rcpt", 452, "4.5.3 Too many recipients", 2)
            client = await google(sandbox)
            await client.mail("a@shop.test")
            assert await rcpt_reply(client, "b@gmail.test") == "452 4.5.3 Too many recipients"
            assert await rcpt_reply(client, "b@gmail.test") == "452 4.5.3 Too many recipients"
            assert await rcpt_reply(client, "b@gmail.test") == REPLY_ACCEPTED_RCPT
            assert sandbox.behaviours["google"].pending("rcpt") == 0
            await client.quit()

    asyncio.run(scenario())


def test_fail_next_mail_then_clears(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            sandbox.behaviours["google"].fail_next("mail", 550, "5.7.1 Sender blocked")
            client = await google(sandbox)
            with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
                await client.mail("a@shop.test")
            assert (refused.value.code, refused.value.message) == (550, "5.7.1 Sender blocked")
            await client.mail("a@shop.test")
            await client.quit()

    asyncio.run(scenario())


def test_fail_next_data_stores_nothing_then_clears(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            sandbox.behaviours["google"].fail_next("data", 554, "5.7.1 Spam detected")
            client = await google(sandbox)
            with pytest.raises(aiosmtplib.SMTPDataError) as failed:
                await client.sendmail("a@shop.test", ["b@gmail.test"], MESSAGE)
            assert failed.value.code == 554
            assert sandbox.store.count() == 0
            await client.sendmail("a@shop.test", ["b@gmail.test"], MESSAGE)
            assert sandbox.store.count("b@gmail.test") == 1
            await client.quit()

    asyncio.run(scenario())


def test_a_421_reply_closes_the_connection(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            sandbox.behaviours["google"].fail_next("rcpt", 421, "4.7.0 Too many connections")
            client = await google(sandbox)
            await client.mail("a@shop.test")
            reply = await client.execute_command(b"RCPT", b"TO:<b@gmail.test>")
            assert reply.code == 421
            # RFC 5321 §3.8: after 421 the server closes; nothing more is answered.
            with pytest.raises(aiosmtplib.SMTPServerDisconnected):
                await client.noop()

    asyncio.run(scenario())


def test_fail_next_connect_554_answers_503_until_quit(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            sandbox.behaviours["google"].fail_next("connect", 554, "5.7.1 Your IP is listed")
            ip, port = sandbox.zone.hosts["mx.google.test"]
            reader, writer = await asyncio.open_connection(ip, port)
            assert await reader.readline() == b"554 5.7.1 Your IP is listed\r\n"
            writer.write(b"EHLO mta.shop.test\r\n")
            assert await reader.readline() == REPLY_BAD_SEQUENCE.encode() + b"\r\n"
            writer.write(b"QUIT\r\n")
            assert await reader.readline() == REPLY_CLOSING.encode() + b"\r\n"
            assert await reader.read() == b""
            writer.close()
            # The refusal was used up: the next connection is served.
            client = await google(sandbox)
            await client.quit()

    asyncio.run(scenario())


def test_fail_next_connect_421_closes_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            sandbox.behaviours["yahoo"].fail_next("connect", 421, "4.7.0 Try later")
            ip, port = sandbox.zone.hosts["mx.yahoo.test"]
            client = aiosmtplib.SMTP(hostname=ip, port=port)
            with pytest.raises(aiosmtplib.SMTPConnectResponseError) as refused:
                await client.connect()
            assert refused.value.code == 421

    asyncio.run(scenario())


def test_failures_can_be_scripted_before_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        sandbox = Sandbox(tmp_path)
        sandbox.behaviours["google"].fail_next("rcpt", 550, "5.1.1 Gone")
        async with sandbox:
            client = await google(sandbox)
            await client.mail("a@shop.test")
            assert await rcpt_reply(client, "b@gmail.test") == "550 5.1.1 Gone"
            await client.quit()

    asyncio.run(scenario())


def test_fail_next_rejects_what_is_not_a_failure() -> None:
    behaviour = Behaviour()
    with pytest.raises(ValueError, match="4xx or 5xx"):
        behaviour.fail_next("rcpt", 250, "OK")
    with pytest.raises(ValueError, match="stage"):
        behaviour.fail_next("helo", 550, "no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        behaviour.fail_next("rcpt", 550, "no", count=0)
    behaviour.fail_next("data", 451, "4.3.0 Later", count=3)
    behaviour.reset()
    assert behaviour.take_failure("data") is None
