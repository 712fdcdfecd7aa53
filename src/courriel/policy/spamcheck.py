"""Spam scoring items of the content check.

Two sources: Courriel's own heuristics (`forbidden`), always, which know the
sending policy's forbidden categories in English and French; and
SpamAssassin, when the installation has a spamd (`spamassassin`), which
scores the message as rendered for a sample recipient, with real headers,
and names the rules that matched. A spamd that does not answer skips its
item (said in the item), it never fails the check.
"""

from __future__ import annotations

from dataclasses import asdict
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from courriel.policy.checklist import Item, Severity
from courriel.policy.forbidden import forbidden_categories
from courriel.policy.spamassassin import SpamdError, SpamScorer

# SpamAssassin's own threshold (5.0 by default) warns; this much blocks.
SPAMASSASSIN_BLOCKING = 10.0
SAMPLE_RECIPIENT = "recipient@example.com"


def forbidden_item(subject: str, text: str) -> Item:
    """The forbidden-categories item: one word warns, two words of a category block."""
    hits = forbidden_categories(f"{subject}\n{text}")
    blocking = any(len(hit.words) >= 2 for hit in hits)
    detail = (
        "; ".join(f"{hit.category}: {', '.join(hit.words)}" for hit in hits)
        or "no forbidden category (gambling, weapons, pharmacy, penny stocks, adult, crypto…)"
    )
    return Item(
        "forbidden_content",
        not hits,
        Severity.BLOCKING if blocking else Severity.WARNING,
        detail,
        {"categories": {hit.category: hit.words for hit in hits}},
    )


def sample_message(  # noqa: PLR0917 - the parts of a message, in their order
    subject: str, html: str, text: str, from_name: str, from_email: str, marketing: bool
) -> bytes:
    """The message as a recipient gets it (RFC 5322 headers, text and HTML parts)."""
    message = EmailMessage()
    message["From"] = formataddr((from_name, from_email)) if from_name else from_email
    message["To"] = SAMPLE_RECIPIENT
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=from_email.rpartition("@")[2] or "localhost")
    if marketing:
        # What every marketing message carries (RFC 2369, RFC 8058).
        message["List-Unsubscribe"] = "<https://example.com/u/sample>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text or " ")
    if html:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def spamassassin_item(scorer: SpamScorer, message: bytes) -> Item:
    """SpamAssassin's score of `message` and the rules hit, or why it was not scored."""
    try:
        report = scorer.score(message)
    except SpamdError as exc:
        return Item(
            "spamassassin",
            passed=True,
            severity=Severity.WARNING,
            detail=f"not scored: SpamAssassin unreachable ({exc})",
            data={"scored": False},
        )
    hits = sorted(report.rules, key=lambda rule: -rule.points)
    listed = ", ".join(f"{rule.name} {rule.points:+g}" for rule in hits if rule.points)
    return Item(
        "spamassassin",
        not report.spam,
        Severity.BLOCKING if report.score >= SPAMASSASSIN_BLOCKING else Severity.WARNING,
        f"score {report.score:g} (spam from {report.threshold:g}, blocking at "
        f"{SPAMASSASSIN_BLOCKING:g})" + (f": {listed}" if listed else ""),
        {
            "scored": True,
            "score": report.score,
            "threshold": report.threshold,
            "rules": [asdict(rule) for rule in hits],
        },
    )
