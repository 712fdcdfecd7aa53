"""Returned mail: DSNs and complaint reports from the sandbox internet, through the
return-path SMTP server, become bounce and complaint events with suppression;
auto-replies and unknown formats never suppress anyone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiosmtplib
import pytest

from courriel.delivery.returns import ReturnKind, read_return
from courriel.delivery.verp import encode_return_path
from courriel.relay.inbound import REPLY_NO_SUCH_USER
from courriel.sandbox.recipients import build_arf, build_dsn, build_trap_report, send_null_sender
from courriel.services import Services
from tests.support.delivery import Mailer
from tests.support.sandbox import Internet

Deliver = Callable[[], None]


def test_late_dsn_for_an_unknown_user_suppresses_the_address(
    internet: Internet,
    mailer: Mailer,
    deliver: Deliver,
) -> None:
    mailer.send(["bounce-later-ann@gmail.test", "bea@gmail.test"])
    deliver()
    internet.settle()
    # The late report may be recorded before or after the delivery itself.
    assert sorted(mailer.types("bounce-later-ann@gmail.test")) == ["bounced", "delivered", "queued"]
    [bounce] = [
        e for e in mailer.events("bounce-later-ann@gmail.test") if e.type.value == "bounced"
    ]
    assert bounce.detail["bounce"] == "hard"
    assert bounce.detail["source"] == "dsn"
    assert mailer.suppressed("bounce-later-ann@gmail.test") == "hard-bounce"
    assert mailer.types("bea@gmail.test") == ["queued", "delivered"]


def test_complaint_report_suppresses_the_complainer(
    internet: Internet,
    mailer: Mailer,
    deliver: Deliver,
) -> None:
    mailer.send(["complain-cid@yahoo.test"])
    deliver()
    internet.settle()
    assert sorted(mailer.types("complain-cid@yahoo.test")) == ["complained", "delivered", "queued"]
    assert mailer.suppressed("complain-cid@yahoo.test") == "complaint"


def test_a_spam_trap_report_records_a_trap_hit_and_suppresses_the_trap(
    internet: Internet,
    mailer: Mailer,
    deliver: Deliver,
) -> None:
    mailer.send(["trap-tom@yahoo.test"])
    deliver()
    internet.settle()
    report = build_trap_report("mx.yahoo.test", "b@x.test", "trap-tom@yahoo.test", b"\r\n")
    assert read_return(report).kind is ReturnKind.SPAM_TRAP
    assert sorted(mailer.types("trap-tom@yahoo.test")) == ["delivered", "queued", "spam-trap-hit"]
    assert mailer.suppressed("trap-tom@yahoo.test") == "hard-bounce"


def test_a_report_sent_twice_counts_once(
    services: Services, internet: Internet, mailer: Mailer
) -> None:
    [message_id] = mailer.send(["dee@outlook.test"])
    verp = encode_return_path(
        services.secret_key, mailer.tenant_id, message_id, services.settings.return_path_domain
    )
    report = build_arf("mx.outlook.test", verp, "dee@outlook.test", b"Subject: x\r\n\r\nx\r\n")
    for _ in range(2):
        asyncio.run(send(internet.return_path, verp, report))
    assert mailer.types("dee@outlook.test") == ["queued", "complained"]


def test_out_of_office_and_unknown_formats_suppress_no_one(
    services: Services, internet: Internet, mailer: Mailer
) -> None:
    [message_id] = mailer.send(["eli@example.test"])
    verp = encode_return_path(
        services.secret_key, mailer.tenant_id, message_id, services.settings.return_path_domain
    )
    ooo = (
        b"From: eli@example.test\r\nTo: " + verp.encode() + b"\r\n"
        b"Subject: Out of Office: Spring sale\r\nAuto-Submitted: auto-replied\r\n\r\n"
        b"I am away until Monday.\r\n"
    )
    human = b"From: eli@example.test\r\nSubject: Re: Spring sale\r\n\r\nStop sending this!\r\n"
    for message in (ooo, human):
        asyncio.run(send(internet.return_path, verp, message))
    assert mailer.types("eli@example.test") == ["queued"]
    assert mailer.suppressed("eli@example.test") is None


def test_forged_or_foreign_return_paths_are_refused(
    services: Services, internet: Internet, mailer: Mailer
) -> None:
    [message_id] = mailer.send(["fox@example.test"])
    domain = services.settings.return_path_domain
    forged = f"b.{mailer.tenant_id}.{message_id}.0123456789@{domain}"
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        asyncio.run(
            send(internet.return_path, forged, build_dsn("mx", forged, "fox@example.test", b""))
        )
    [error] = refused.value.recipients
    assert f"{error.code} {error.message}" == REPLY_NO_SUCH_USER
    assert mailer.suppressed("fox@example.test") is None


def test_dsn_reading_follows_rfc_3464() -> None:
    dsn = build_dsn("mx.google.test", "b.x@b.test", "gone@gmail.test", b"Subject: s\r\n\r\nx")
    report = read_return(dsn)
    assert report.kind is ReturnKind.DSN
    [failed] = report.failed
    assert failed.address == "gone@gmail.test"
    assert failed.status == "5.1.1"
    assert failed.verdict.hard
    # A delayed notice is news, not a failure.
    delayed = dsn.replace(b"Action: failed", b"Action: delayed").replace(b"5.1.1", b"4.4.7")
    assert read_return(delayed).failed == []
    # A spam refusal reported late is never hard.
    spam = dsn.replace(
        b"550 5.1.1 The email account that you tried to reach does not exist",
        b"550 5.7.1 Message rejected as spam",
    ).replace(b"Status: 5.1.1", b"Status: 5.7.1")
    [blocked] = read_return(spam).failed
    assert not blocked.verdict.hard


def test_non_standard_bounce_is_read_with_flufl_bounce() -> None:
    qmail = (
        b"From: MAILER-DAEMON@mx.old.test\r\nTo: b.x@b.test\r\nSubject: failure notice\r\n\r\n"
        b"Hi. This is the qmail-send program at mx.old.test.\r\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        b"This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
        b"<gone@old.test>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n\r\n"
        b"--- Below this line is a copy of the message.\r\n\r\nSubject: s\r\n\r\nx\r\n"
    )
    report = read_return(qmail)
    assert report.kind is ReturnKind.BOUNCE
    assert "gone@old.test" in report.permanent


async def send(address: tuple[str, int], rcpt: str, message: bytes) -> None:
    await send_null_sender(*address, rcpt, message)
