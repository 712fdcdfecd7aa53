"""Classify what happened to one delivery attempt: SMTP replies, DNS and network.

Every attempt ends in a `Classification`: an `Outcome` (what the worker does
next), whether the reply proves the address itself is bad (``hard``: only then
may the address be suppressed), and a short machine-friendly ``reason``.

A reply is read in three passes, most precise first:

1. the enhanced status code (RFC 3463), trusted only when its class digit
   agrees with the basic reply code, as RFC 2034 §4 requires of servers;
2. the reply text, matched against a table of phrases real servers use;
3. the basic reply code (RFC 5321 §4.2).

Several enhanced codes are catch-alls that servers use for very different
reasons (X.0.0, X.7.1 "delivery not authorized" covers spam filters,
blocklists and greylisting alike, Gmail's 4.2.1 means "receiving mail too
fast"). Those are marked *generic*: for them the text decides and the code
is only the fallback. Specific codes (X.1.1 unknown user, X.2.2 mailbox
full, ...) decide on their own.

Two rules hold whatever the tables say. A 4xx reply is never final (RFC 5321
§4.2.1: the same command may succeed later), so it yields DEFERRED or
THROTTLED. And a reply that mentions spam, blocklists or reputation never
yields a hard bounce: wrongly suppressing a subscriber is worse than trying
a bad address once more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Outcome(StrEnum):
    """What a delivery attempt came to, and so what the worker does next."""

    DELIVERED = "delivered"
    # Temporary failure: retry on the back-off schedule until the message expires.
    DEFERRED = "deferred"
    # Permanent failure of this message. With ``hard`` the address is bad.
    BOUNCED = "bounced"
    # Policy, reputation or content refusal: the message fails, the address is
    # fine and must never be suppressed for it; it counts against the sender.
    BLOCKED = "blocked"
    # The destination asks us to slow down: retry, and throttle the lane.
    THROTTLED = "throttled"


@dataclass(frozen=True)
class Classification:
    """The verdict on one attempt.

    ``enhanced`` is the RFC 3463 code that was trusted (``"5.1.1"``), or
    None. ``hard`` is true only for a BOUNCED outcome proving that the
    address does not exist or can never receive mail.
    """

    outcome: Outcome
    enhanced: str | None
    hard: bool
    reason: str


# For each reason: the verdict on a permanent (5xx) reply, then the outcome of
# a transient (4xx) reply. Reasons are the vocabulary shared by the three
# lookup tables below, so a reason means the same thing wherever it is found.
_VERDICTS: Final[dict[str, tuple[Outcome, bool, Outcome]]] = {
    # The address is bad (RFC 3463 §3.2, X.1.x; RFC 7505 for null MX).
    "unknown-user": (Outcome.BOUNCED, True, Outcome.DEFERRED),
    "bad-address": (Outcome.BOUNCED, True, Outcome.DEFERRED),
    "bad-domain": (Outcome.BOUNCED, True, Outcome.DEFERRED),
    "null-mx": (Outcome.BOUNCED, True, Outcome.DEFERRED),
    "mailbox-disabled": (Outcome.BOUNCED, True, Outcome.DEFERRED),
    # RFC 5321 §4.2.3 gives 550 as "mailbox unavailable (e.g., mailbox not
    # found ...)": a bare 550 is treated as an address failure.
    "mailbox-unavailable": (Outcome.BOUNCED, True, Outcome.DEFERRED),
    # The message failed, the address may be fine: soft bounces.
    "mailbox-full": (Outcome.BOUNCED, False, Outcome.DEFERRED),
    "message-too-large": (Outcome.BOUNCED, False, Outcome.DEFERRED),
    "smtputf8-unsupported": (Outcome.BOUNCED, False, Outcome.DEFERRED),
    "sender-rejected": (Outcome.BOUNCED, False, Outcome.DEFERRED),
    "relay-denied": (Outcome.BOUNCED, False, Outcome.DEFERRED),
    "routing": (Outcome.BOUNCED, False, Outcome.DEFERRED),
    "system-error": (Outcome.BOUNCED, False, Outcome.DEFERRED),
    "protocol-error": (Outcome.BOUNCED, False, Outcome.DEFERRED),
    "content-error": (Outcome.BOUNCED, False, Outcome.DEFERRED),
    "transaction-failed": (Outcome.BOUNCED, False, Outcome.DEFERRED),
    # Policy and reputation: blocked when permanent; when temporary the
    # design's lanes adapt down on 4.7.x replies, so they throttle.
    "policy": (Outcome.BLOCKED, False, Outcome.THROTTLED),
    "blocklisted": (Outcome.BLOCKED, False, Outcome.THROTTLED),
    "spam": (Outcome.BLOCKED, False, Outcome.THROTTLED),
    "authentication": (Outcome.BLOCKED, False, Outcome.THROTTLED),
    "rate-limit": (Outcome.BLOCKED, False, Outcome.THROTTLED),
    # Greylisting asks for nothing but a later retry: slowing the lane for it
    # would only delay everyone else's mail.
    "greylisted": (Outcome.BLOCKED, False, Outcome.DEFERRED),
    "service-unavailable": (Outcome.BOUNCED, False, Outcome.THROTTLED),
    "temporary": (Outcome.BOUNCED, False, Outcome.DEFERRED),
}

# Enhanced codes by "subject.detail" (RFC 3463 §3, RFC 5248 registry), then
# by subject alone. The flag says whether the code is specific enough to
# decide without reading the text.
_ENHANCED: Final[dict[str, tuple[str, bool]]] = {
    "1.0": ("bad-address", False),  # Postfix also uses it for sender problems.
    "1.1": ("unknown-user", True),
    "1.2": ("bad-domain", True),
    "1.3": ("bad-address", True),
    "1.4": ("bad-address", True),
    "1.6": ("mailbox-disabled", True),  # Mailbox has moved, no forwarding.
    "1.7": ("sender-rejected", True),
    "1.8": ("sender-rejected", True),
    # RFC 7505 gives X.1.10 to null MX, but Microsoft answers 5.1.10 for
    # any unknown recipient: the text tells which.
    "1.10": ("null-mx", False),
    "2.0": ("transaction-failed", False),
    # Gmail answers 4.2.1 for "receiving mail too fast" and 5.2.1 for a
    # disabled account: the text tells which.
    "2.1": ("mailbox-disabled", False),
    "2.2": ("mailbox-full", True),
    "2.3": ("message-too-large", True),
    "3.4": ("message-too-large", True),
    # Microsoft answers 5.4.1 for recipients unknown to Exchange Online.
    "4.1": ("routing", False),
    "4.6": ("routing", True),  # Routing loop.
    "5.0": ("protocol-error", False),  # Outlook.com: "mailbox unavailable".
    "6.7": ("smtputf8-unsupported", True),  # RFC 6531, non-ASCII address.
    "6.8": ("smtputf8-unsupported", True),
    "6.9": ("smtputf8-unsupported", True),
    "6.10": ("smtputf8-unsupported", True),
    # RFC 7372: DKIM, SPF, reverse DNS and combined authentication failures.
    "7.20": ("authentication", True),
    "7.21": ("authentication", True),
    "7.22": ("authentication", True),
    "7.23": ("authentication", True),
    "7.24": ("authentication", True),
    "7.25": ("authentication", True),
    "7.26": ("authentication", True),
    "7.27": ("sender-rejected", True),  # Sender address has null MX (RFC 7505).
    "7.28": ("rate-limit", True),  # Mail flood detected.
    "1": ("bad-address", False),
    "2": ("transaction-failed", False),
    "3": ("system-error", False),
    "4": ("routing", False),
    "5": ("protocol-error", False),
    "6": ("content-error", False),
    "7": ("policy", False),
}


def _rule(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# Reply texts, first match wins. Reputation and policy phrases come before
# address phrases on purpose: a text that mentions a blocklist must never
# become a hard bounce, even if it also says "rejected" or "unavailable".
_TEXTS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (_rule(r"gr[ae]y[- ]?list"), "greylisted"),
    (
        _rule(
            r"too many|rate limit|ratelimit|too (fast|quickly)|at a rate"
            r"|unexpected volume|slow down|throttl|try (again )?later"
            r"|temporarily (deferred|rate limited)"
        ),
        "rate-limit",
    ),
    # "\bspam\b" so that "Spamhaus" reads as the blocklist it is.
    (_rule(r"\bspam\b|unsolicited|junk|phish|virus|malware"), "spam"),
    (
        _rule(
            r"block ?list|black ?list|\bblocked\b|bloquee|spamhaus|spamcop"
            r"|barracuda|dnsbl|\brbl\b|reputation|listed (at|on|in)\b"
        ),
        "blocklisted",
    ),
    (_rule(r"dmarc|\bspf\b|dkim|unauthenticated|\bptr\b|reverse dns"), "authentication"),
    (_rule(r"sender (address )?(rejected|unknown|invalid)|sender verify"), "sender-rejected"),
    (_rule(r"relay(ing)? (access )?(denied|not permitted)|unable to relay"), "relay-denied"),
    (
        _rule(
            r"domain (name )?(not found|does not exist|doesn't exist)|no such domain"
            r"|unroutable|host or domain name not found|find the recipient domain"
        ),
        "bad-domain",
    ),
    (
        _rule(
            r"user unknown|unknown (user|recipient)|no such (user|mailbox|recipient)"
            r"|does not exist|doesn't exist|doesn't have an? [\w.-]+ account"
            r"|(user|mailbox|address|recipient) not found|invalid (recipient|mailbox)"
            r"|mailbox unavailable|destinataire invalide|not a valid (user|mailbox)"
            r"|recipient address rejected: access denied|user not local"
        ),
        "unknown-user",
    ),
    (_rule(r"mailbox name not allowed|(invalid|bad) address|address syntax"), "bad-address"),
    (
        _rule(r"over ?quota|quota exceeded|mailbox (is )?full|insufficient storage|pleine"),
        "mailbox-full",
    ),
    (
        _rule(r"disabled|deactivated|inactive|suspended|account (is |has been )?closed"),
        "mailbox-disabled",
    ),
    (_rule(r"too (big|large)|size limit|exceeds? .*size"), "message-too-large"),
    (_rule(r"policy|not allowed|prohibited|denied|refused|not accepted"), "policy"),
)

# Basic reply codes (RFC 5321 §4.2.2-4.2.3) when nothing else matched. 421
# means the server is closing the channel, usually because it is overloaded
# or we connect too often: throttle. Of the 5xx codes only 550, 551 and 553
# speak of the mailbox; 554 is "transaction failed", used for anything from
# policy to content, so without more it is a soft bounce, not a block.
_BASIC: Final[dict[int, str]] = {
    421: "service-unavailable",
    452: "mailbox-full",
    550: "mailbox-unavailable",
    551: "unknown-user",
    552: "mailbox-full",
    553: "bad-address",
    554: "transaction-failed",
    500: "protocol-error",
    501: "protocol-error",
    502: "protocol-error",
    503: "protocol-error",
    504: "protocol-error",
}

# Reply classes (RFC 5321 §4.2.1) and the one code that closes the channel.
_SUCCESS, _TRANSIENT, _PERMANENT = 2, 4, 5
_CLOSING = 421

# An enhanced code opens the text (RFC 2034 §4), possibly after the basic code
# when the caller passed a raw reply line such as "550-5.1.1 ...".
_ENHANCED_RE: Final = re.compile(r"^\s*(?:\d{3}[ -])?\s*([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_LEADING_CODE_RE: Final = re.compile(r"^\s*\d{3}[ -]")


def parse_enhanced(code: int, text: str) -> str | None:
    """Return the enhanced status code opening ``text``, if it can be trusted.

    RFC 2034 §4 requires the class digit to agree with the basic code (a 5xx
    reply carries a 5.X.X code); a disagreeing code is a server bug and is
    ignored rather than allowed to turn a temporary failure into a bounce.
    """
    match = _ENHANCED_RE.match(text)
    if match is None or int(match.group(1)) != code // 100:
        return None
    return ".".join(str(int(part)) for part in match.groups())


def classify(code: int, text: str) -> Classification:
    """Classify one SMTP reply (basic ``code`` and the reply ``text``)."""
    klass = code // 100
    if klass == _SUCCESS:
        return Classification(
            Outcome.DELIVERED, parse_enhanced(code, text), hard=False, reason="ok"
        )
    if klass not in (_TRANSIENT, _PERMANENT):
        # Not a completion reply (or 0, "no reply at all"): nothing proves the
        # message failed, so retry.
        return Classification(Outcome.DEFERRED, None, hard=False, reason="unexpected-reply")

    enhanced = parse_enhanced(code, text)
    entry = _lookup_enhanced(enhanced) if enhanced else None
    if entry is not None and entry[1]:
        reason = entry[0]
    else:
        reason = _match_text(text) or (entry[0] if entry else None) or _basic_reason(code)
    return _verdict(code, enhanced, reason)


_CONNECTION_REASONS: Final[dict[str, str]] = {
    "timeout": "timeout",
    "refused": "connection-refused",
    "dns-failed": "dns-error",
    "connection-lost": "connection-lost",
    "tls-failed": "tls-failed",
    "tls-unavailable": "tls-unavailable",
    "tls-unauthenticated": "tls-unauthenticated",
    "tls-policy": "tls-policy",
}


def classify_connection_error(exc_kind: str) -> Classification:
    """Classify a failure that left no SMTP reply: always a retry.

    Known kinds: ``"timeout"``, ``"refused"``, ``"dns-failed"``, ``"connection-lost"``,
    ``"tls-failed"`` (the handshake broke), ``"tls-unavailable"`` (TLS was
    required but not offered), ``"tls-unauthenticated"`` (DANE records did not
    match the certificate), ``"tls-policy"`` (MTA-STS or DANE left no usable
    MX). Any other kind becomes ``"connection-error"``.
    RFC 5321 §4.5.4.1: a site that cannot be reached is retried until the
    message's queue lifetime runs out.
    """
    reason = _CONNECTION_REASONS.get(exc_kind, "connection-error")
    return Classification(Outcome.DEFERRED, None, hard=False, reason=reason)


def classify_dns_error(kind: str) -> Classification:
    """Classify a failed MX resolution, by `courriel.delivery.mx.MxError` kind.

    A null MX (RFC 7505: 5.1.10) and a domain that does not exist (5.1.2)
    are hard bounces. A domain with neither MX nor address records cannot
    receive mail (RFC 5321 §5.1) and bounces the same way. Anything else
    (SERVFAIL, timeouts) is temporary: 4.4.3, directory server failure.
    """
    if kind == "null-mx":
        return Classification(Outcome.BOUNCED, "5.1.10", hard=True, reason="null-mx")
    if kind in ("nxdomain", "no-address"):
        return Classification(Outcome.BOUNCED, "5.1.2", hard=True, reason="bad-domain")
    return Classification(Outcome.DEFERRED, "4.4.3", hard=False, reason="dns-error")


def _lookup_enhanced(enhanced: str) -> tuple[str, bool] | None:
    _, subject, detail = enhanced.split(".")
    return _ENHANCED.get(f"{subject}.{detail}") or _ENHANCED.get(subject)


def _match_text(text: str) -> str | None:
    body = _LEADING_CODE_RE.sub("", text, count=1)
    for pattern, reason in _TEXTS:
        if pattern.search(body):
            return reason
    return None


def _basic_reason(code: int) -> str:
    if code in _BASIC:
        return _BASIC[code]
    return "temporary" if code // 100 == _TRANSIENT else "transaction-failed"


def _verdict(code: int, enhanced: str | None, reason: str) -> Classification:
    permanent, hard, transient = _VERDICTS[reason]
    if code // 100 == _PERMANENT:
        return Classification(permanent, enhanced, hard=hard, reason=reason)
    # A 421 closes the channel (RFC 5321 §3.8): whatever the reason, the
    # server wants fewer connections from us, so the lane slows down.
    if code == _CLOSING and transient is Outcome.DEFERRED and reason != "greylisted":
        transient = Outcome.THROTTLED
    return Classification(transient, enhanced, hard=False, reason=reason)
