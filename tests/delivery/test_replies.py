"""Reply classification, on replies real mailbox providers send."""

from __future__ import annotations

import pytest

from courriel.delivery.replies import (
    Classification,
    Outcome,
    classify,
    classify_connection_error,
    classify_dns_error,
    parse_enhanced,
)

DELIVERED, DEFERRED, BOUNCED = Outcome.DELIVERED, Outcome.DEFERRED, Outcome.BOUNCED
BLOCKED, THROTTLED = Outcome.BLOCKED, Outcome.THROTTLED

# (code, text, outcome, hard, reason)
REPLIES: list[tuple[int, str, Outcome, bool, str]] = [
    # --- Gmail ---
    (250, "2.0.0 OK  1700000000 x1si123456.1 - gsmtp", DELIVERED, False, "ok"),
    (
        550,
        (
            "5.1.1 The email account that you tried to reach does not exist. Please try\n"
            "5.1.1 double-checking the recipient's email address for typos or\n"
            "5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser - gsmtp"
        ),
        BOUNCED,
        True,
        "unknown-user",
    ),
    (
        550,
        "550-5.1.1 The email account that you tried to reach does not exist.",
        BOUNCED,
        True,
        "unknown-user",
    ),
    (
        550,
        "5.2.1 The email account that you tried to reach is disabled.",
        BOUNCED,
        True,
        "mailbox-disabled",
    ),
    (
        452,
        "4.2.2 The email account that you tried to reach is over quota.",
        DEFERRED,
        False,
        "mailbox-full",
    ),
    (
        552,
        "5.2.2 The email account that you tried to reach is over quota and inactive.",
        BOUNCED,
        False,
        "mailbox-full",
    ),
    (
        450,
        (
            "4.2.1 The user you are trying to contact is receiving mail at a rate that\n"
            "4.2.1 prevents additional messages from being delivered."
        ),
        THROTTLED,
        False,
        "rate-limit",
    ),
    (
        450,
        "4.2.1 The user you are trying to contact is receiving mail too quickly",
        THROTTLED,
        False,
        "rate-limit",
    ),
    (
        421,
        (
            "4.7.0 [192.0.2.1] Our system has detected an unusual rate of unsolicited mail "
            "originating from your IP address. To protect our users from spam, mail sent from "
            "your IP address has been temporarily rate limited."
        ),
        THROTTLED,
        False,
        "rate-limit",
    ),
    (
        421,
        "4.7.28 [192.0.2.1] Our system has detected an unusual rate of unsolicited mail.",
        THROTTLED,
        False,
        "rate-limit",
    ),
    (
        550,
        (
            "5.7.28 [192.0.2.1] Our system has detected an unusual rate of unsolicited mail "
            "originating from your IP address. Mail sent from your IP address has been blocked."
        ),
        BLOCKED,
        False,
        "rate-limit",
    ),
    (
        550,
        (
            "5.7.1 [192.0.2.1] Our system has detected that this message is likely unsolicited "
            "mail. To reduce the amount of spam sent to Gmail, this message has been blocked."
        ),
        BLOCKED,
        False,
        "spam",
    ),
    (
        550,
        (
            "5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail "
            "requires all senders to authenticate with either SPF or DKIM."
        ),
        BLOCKED,
        False,
        "authentication",
    ),
    (
        550,
        "5.7.25 [192.0.2.1] The IP address sending this message does not have a PTR record.",
        BLOCKED,
        False,
        "authentication",
    ),
    (
        552,
        "5.3.4 Your message exceeded Google's message size limits.",
        BOUNCED,
        False,
        "message-too-large",
    ),
    (
        553,
        (
            "5.1.2 We weren't able to find the recipient domain. Please check for any spelling "
            "errors, and make sure you didn't enter any spaces, periods, or other punctuation."
        ),
        BOUNCED,
        True,
        "bad-domain",
    ),
    (
        421,
        "4.3.0 Temporary System Problem.  Try again later (10). - gsmtp",
        THROTTLED,
        False,
        "rate-limit",
    ),
    (451, "4.3.0 Mail server temporarily rejected message.", DEFERRED, False, "system-error"),
    # --- Yahoo ---
    (
        421,
        (
            "4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume "
            "or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes"
        ),
        THROTTLED,
        False,
        "rate-limit",
    ),
    (
        421,
        (
            "4.7.1 [TS03] All messages from 192.0.2.1 will be permanently deferred; Retrying will "
            "NOT succeed. See https://postmaster.yahooinc.com/error-codes"
        ),
        THROTTLED,
        False,
        "policy",
    ),
    (
        554,
        (
            "5.7.1 [BL21] Connections will not be accepted from 192.0.2.1, because the ip is in "
            "Spamhaus's list; see https://postmaster.yahooinc.com/error-codes"
        ),
        BLOCKED,
        False,
        "blocklisted",
    ),
    (
        554,
        (
            "5.7.9 Message not accepted for policy reasons.  See "
            "https://postmaster.yahooinc.com/error-codes"
        ),
        BLOCKED,
        False,
        "policy",
    ),
    (
        554,
        (
            "delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) "
            "[0] - mta1000.mail.bf1.yahoo.com"
        ),
        BOUNCED,
        True,
        "unknown-user",
    ),
    (
        554,
        (
            "delivery error: dd Sorry your message to someone@yahoo.com cannot be delivered. "
            "This mailbox is disabled (554.30). - mta1000.mail.bf1.yahoo.com"
        ),
        BOUNCED,
        True,
        "mailbox-disabled",
    ),
    (451, "Message temporarily deferred - [160]", THROTTLED, False, "rate-limit"),
    # --- Microsoft (Outlook.com, Exchange Online) ---
    (
        550,
        "5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [DM6NAM11FT]",
        BOUNCED,
        True,
        "unknown-user",
    ),
    (
        550,
        (
            "5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your "
            "Internet service provider since part of their network is on our block list (S3150). "
            "You can also refer your provider to "
            "http://mail.live.com/mail/troubleshooting.aspx#errors."
        ),
        BLOCKED,
        False,
        "blocklisted",
    ),
    (
        550,
        (
            "5.4.1 Recipient address rejected: Access denied. For more information see "
            "https://aka.ms/EXOSmtpErrors [AM0PR01MB1234.eurprd01.prod.exchangelabs.com]"
        ),
        BOUNCED,
        True,
        "unknown-user",
    ),
    (
        550,
        "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        BOUNCED,
        True,
        "unknown-user",
    ),
    (
        451,
        "4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77719)",
        THROTTLED,
        False,
        "rate-limit",
    ),
    (
        550,
        "5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.",
        BLOCKED,
        False,
        "policy",
    ),
    (
        550,
        (
            "5.7.1 Service unavailable, Client host [192.0.2.1] blocked using Spamhaus. To request "
            "removal from this list see https://www.spamhaus.org/query/ip/192.0.2.1 (AS3130)"
        ),
        BLOCKED,
        False,
        "blocklisted",
    ),
    (421, "4.3.2 Service not available", THROTTLED, False, "system-error"),
    (
        554,
        "5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException",
        BOUNCED,
        False,
        "mailbox-full",
    ),
    # --- Orange ---
    (
        550,
        "5.1.1 Adresse d au moins un destinataire invalide. Invalid recipient. OFR_416 [416]",
        BOUNCED,
        True,
        "unknown-user",
    ),
    (
        501,
        "5.1.3 Adresse d au moins un destinataire invalide. Invalid recipient. OFR_416 [416]",
        BOUNCED,
        True,
        "bad-address",
    ),
    (
        552,
        "5.2.2 Boite du destinataire pleine. Recipient overquota. OFR_417 [417]",
        BOUNCED,
        False,
        "mailbox-full",
    ),
    (
        421,
        (
            "mwinf5c40 ME Trop de connexions, veuillez verifier votre configuration. "
            "Too many connections, slow down. OFR005_104 [104]"
        ),
        THROTTLED,
        False,
        "rate-limit",
    ),
    (
        421,
        (
            "mwinf5c79 ME Service refuse. Veuillez essayer plus tard. "
            "Service refused, please try later. OFR005_103 [103]"
        ),
        THROTTLED,
        False,
        "rate-limit",
    ),
    (
        550,
        (
            "mwinf5c10 ME Adresse IP source bloquee pour incident de spam. Client host blocked "
            "for spamming issues. OFR006_102 Ref http://csi.cloudmark.com/reset-request"
        ),
        BLOCKED,
        False,
        "spam",
    ),
    # --- Postfix, Exim and friends ---
    (451, "4.7.1 Greylisted, please try again", DEFERRED, False, "greylisted"),
    (
        450,
        (
            "4.2.0 <b@example.test>: Recipient address rejected: Greylisted, see "
            "http://postgrey.schweikert.ch/help/example.test.html"
        ),
        DEFERRED,
        False,
        "greylisted",
    ),
    (421, "4.7.1 Greylisting in action, please come back later", DEFERRED, False, "greylisted"),
    (
        550,
        (
            "5.1.1 <b@example.test>: Recipient address rejected: User unknown in virtual "
            "mailbox table"
        ),
        BOUNCED,
        True,
        "unknown-user",
    ),
    (
        550,
        (
            "5.1.0 <bounce@sender.test>: Sender address rejected: User unknown in local "
            "recipient table"
        ),
        BOUNCED,
        False,
        "sender-rejected",
    ),
    (554, "5.7.1 <b@example.test>: Relay access denied", BOUNCED, False, "relay-denied"),
    (
        554,
        "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
        BLOCKED,
        False,
        "blocklisted",
    ),
    (554, "Message rejected as spam by Content Filtering.", BLOCKED, False, "spam"),
    (552, "5.2.2 mailbox full", BOUNCED, False, "mailbox-full"),
    (553, "5.1.3 invalid address", BOUNCED, True, "bad-address"),
    (552, "5.3.4 Message size exceeds fixed limit", BOUNCED, False, "message-too-large"),
    (
        550,
        "5.7.27 Sender address has null MX",
        BOUNCED,
        False,
        "sender-rejected",
    ),
    (556, "5.1.10 Recipient address has null MX", BOUNCED, True, "null-mx"),
    (
        553,
        "5.6.7 Non-ASCII address needs SMTPUTF8",
        BOUNCED,
        False,
        "smtputf8-unsupported",
    ),
    # --- Bare RFC 5321 replies, no enhanced code ---
    (550, "Requested action not taken", BOUNCED, True, "mailbox-unavailable"),
    (551, "User not local; please try <b@elsewhere.test>", BOUNCED, True, "unknown-user"),
    (553, "Requested action not taken: mailbox name not allowed", BOUNCED, True, "bad-address"),
    (
        552,
        "Requested mail action aborted: exceeded storage allocation",
        BOUNCED,
        False,
        "mailbox-full",
    ),
    (554, "Transaction failed", BOUNCED, False, "transaction-failed"),
    (
        450,
        "Requested mail action not taken: mailbox unavailable",
        DEFERRED,
        False,
        "unknown-user",
    ),
    (
        452,
        "Requested action not taken: insufficient system storage",
        DEFERRED,
        False,
        "mailbox-full",
    ),
    (
        421,
        "mx.example.test Service not available, closing transmission channel",
        THROTTLED,
        False,
        "service-unavailable",
    ),
    (451, "Requested action aborted: local error in processing", DEFERRED, False, "temporary"),
    (500, "Syntax error, command unrecognized", BOUNCED, False, "protocol-error"),
    # --- Not completion replies ---
    (354, "Start mail input; end with <CRLF>.<CRLF>", DEFERRED, False, "unexpected-reply"),
    (0, "connection-lost: Connection lost", DEFERRED, False, "unexpected-reply"),
]


@pytest.mark.parametrize(("code", "text", "outcome", "hard", "reason"), REPLIES)
def test_classify(code: int, text: str, outcome: Outcome, hard: bool, reason: str) -> None:
    verdict = classify(code, text)
    assert (verdict.outcome, verdict.hard, verdict.reason) == (outcome, hard, reason)


@pytest.mark.parametrize(("code", "text", "outcome", "hard", "reason"), REPLIES)
def test_rules_that_hold_for_every_reply(
    code: int, text: str, outcome: Outcome, hard: bool, reason: str
) -> None:
    verdict = classify(code, text)
    # Only a bounce can condemn an address.
    assert not verdict.hard or verdict.outcome is Outcome.BOUNCED
    # RFC 5321 §4.2.1: a 4xx reply is never final.
    if code // 100 == 4:
        assert verdict.outcome in (Outcome.DEFERRED, Outcome.THROTTLED)


def test_enhanced_code_is_kept_when_trusted() -> None:
    assert classify(550, "5.1.1 User unknown").enhanced == "5.1.1"
    assert classify(250, "2.0.0 OK").enhanced == "2.0.0"
    assert classify(451, "4.7.500 Server busy").enhanced == "4.7.500"


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        (550, "5.1.1 User unknown", "5.1.1"),
        (550, "550-5.1.1 User unknown", "5.1.1"),
        (550, "550 5.1.1 User unknown", "5.1.1"),
        (421, "4.7.0 [TSS04] deferred", "4.7.0"),
        (550, "5.01.001 padded", "5.1.1"),
        # RFC 2034 §4: the class must agree with the reply code.
        (550, "4.1.1 class disagrees", None),
        (451, "5.1.1 class disagrees", None),
        (550, "User unknown", None),
        (550, "5.1 not a status code", None),
        (550, "5.1.1.1 not a status code", None),
        (550, "see 5.1.1 later in the text", None),
    ],
)
def test_parse_enhanced(code: int, text: str, expected: str | None) -> None:
    assert parse_enhanced(code, text) == expected


def test_a_disagreeing_enhanced_code_cannot_turn_a_deferral_into_a_bounce() -> None:
    verdict = classify(451, "5.1.1 User unknown")
    assert verdict == Classification(Outcome.DEFERRED, None, hard=False, reason="unknown-user")


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("timeout", "timeout"),
        ("refused", "connection-refused"),
        ("dns-failed", "dns-error"),
        ("connection-lost", "connection-lost"),
        ("tls-failed", "tls-failed"),
        ("tls-unavailable", "tls-unavailable"),
        ("something-new", "connection-error"),
    ],
)
def test_connection_errors_are_retried(kind: str, reason: str) -> None:
    assert classify_connection_error(kind) == Classification(
        Outcome.DEFERRED, None, hard=False, reason=reason
    )


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("null-mx", Classification(Outcome.BOUNCED, "5.1.10", hard=True, reason="null-mx")),
        ("nxdomain", Classification(Outcome.BOUNCED, "5.1.2", hard=True, reason="bad-domain")),
        ("no-address", Classification(Outcome.BOUNCED, "5.1.2", hard=True, reason="bad-domain")),
        ("temporary", Classification(Outcome.DEFERRED, "4.4.3", hard=False, reason="dns-error")),
    ],
)
def test_dns_errors(kind: str, expected: Classification) -> None:
    assert classify_dns_error(kind) == expected
