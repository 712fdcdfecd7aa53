"""Reading what comes back to a return path: DSNs, complaint reports, the rest.

Mail to a VERP return path is one of four things, told apart in this order:

1. an abuse feedback report (ARF, RFC 5965: ``multipart/report;
   report-type=feedback-report``): the recipient said "this is spam"; or,
   with the extension field ``Spam-Trap: yes``, a trap network says the
   address is a spam trap that got the message;
2. a delivery status notification (RFC 3464: ``report-type=delivery-status``):
   only ``Action: failed`` recipients count (``delayed``, ``delivered``,
   ``relayed`` and ``expanded`` are news, not failures), and their
   ``Status`` / ``Diagnostic-Code`` go through the same classification as a
   live SMTP reply, so a 5.1.1 is hard and a spam refusal never is;
3. a bounce in some older, non-standard format, recognized by flufl.bounce;
   its permanent failures count as hard only for the address the message
   was really sent to (the caller checks);
4. anything else: out-of-office and other auto-replies (RFC 3834), human
   answers, spam. Those never suppress anyone.
"""

from __future__ import annotations

import email
import email.message
import enum
import re
from dataclasses import dataclass, field

from flufl.bounce import all_failures

from courriel.delivery.replies import Classification, classify

_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})")
_DIAGNOSTIC_CODE = re.compile(r"^\s*(\d{3})[ -]?(.*)$", re.DOTALL)


class ReturnKind(enum.StrEnum):
    """What a message to a return path turned out to be."""

    COMPLAINT = "complaint"
    SPAM_TRAP = "spam-trap"
    DSN = "dsn"
    BOUNCE = "bounce"  # Non-standard bounce (flufl.bounce).
    AUTO_REPLY = "auto-reply"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class FailedRecipient:
    """One ``Action: failed`` recipient of a DSN, classified."""

    address: str
    status: str
    diagnostic: str
    verdict: Classification


@dataclass(frozen=True)
class ReturnReport:
    """The reading of one returned message."""

    kind: ReturnKind
    failed: list[FailedRecipient] = field(default_factory=list)
    # Non-standard bounces: addresses that failed permanently (lower case).
    permanent: frozenset[str] = frozenset()
    feedback_type: str = ""
    original_mail_from: str = ""


def read_return(data: bytes) -> ReturnReport:
    """Read one message that arrived at a return path (see the module docstring)."""
    message = email.message_from_bytes(data)
    if message.get_content_type() == "multipart/report":
        report_type = str(message.get_param("report-type", "") or "").lower()
        if report_type == "feedback-report":
            return _complaint(message)
        if report_type == "delivery-status":
            return _dsn(message)
    sender = str(message.get("From", "")).lower()
    from_daemon = "mailer-daemon" in sender or "postmaster" in sender
    # Bounce daemons mark their messages Auto-Submitted too (RFC 3834 §5).
    if _is_auto_reply(message) and not from_daemon:
        return ReturnReport(ReturnKind.AUTO_REPLY)
    try:
        _temporary, permanent = all_failures(message)
    except Exception:  # noqa: BLE001 (its heuristics choke on odd mail; odd mail is unknown)
        return ReturnReport(ReturnKind.UNKNOWN)
    if permanent:
        addresses = frozenset(a.decode("utf-8", "replace").lower() for a in permanent)
        return ReturnReport(ReturnKind.BOUNCE, permanent=addresses)
    return ReturnReport(ReturnKind.UNKNOWN)


def _complaint(message: email.message.Message) -> ReturnReport:
    fields = _part_fields(message, "message/feedback-report")
    feedback = fields[0] if fields else {}
    trap = feedback.get("spam-trap", "").strip().lower() == "yes"
    return ReturnReport(
        ReturnKind.SPAM_TRAP if trap else ReturnKind.COMPLAINT,
        feedback_type=feedback.get("feedback-type", "abuse").lower(),
        original_mail_from=feedback.get("original-mail-from", "").strip("<> "),
    )


def _dsn(message: email.message.Message) -> ReturnReport:
    # The first block holds the per-message fields, the next ones one
    # recipient each (RFC 3464 §2.1).
    blocks = _part_fields(message, "message/delivery-status")[1:]
    failed = []
    for block in blocks:
        if block.get("action", "").lower() != "failed":
            continue
        address = block.get("final-recipient", "").partition(";")[2].strip().strip("<>")
        status = block.get("status", "")
        diagnostic = block.get("diagnostic-code", "").partition(";")[2].strip()
        failed.append(FailedRecipient(address, status, diagnostic, _classify(status, diagnostic)))
    return ReturnReport(ReturnKind.DSN, failed=failed)


def _classify(status: str, diagnostic: str) -> Classification:
    """Classify a DSN recipient like the SMTP reply it reports."""
    match = _DIAGNOSTIC_CODE.match(diagnostic)
    status_match = _STATUS.match(status)
    enhanced = ".".join(status_match.groups()) if status_match else ""
    if match is not None:
        code, text = int(match.group(1)), match.group(2)
        if enhanced and not text.lstrip().startswith(enhanced):
            text = f"{enhanced} {text}"
        return classify(code, text)
    # No SMTP reply quoted: the status class stands for the basic code.
    klass = int(enhanced[0]) if enhanced else 5
    return classify(klass * 100 + 50, enhanced)


def _part_fields(message: email.message.Message, content_type: str) -> list[dict[str, str]]:
    """The header blocks of the report part of ``content_type``, lower-cased names."""
    for part in message.walk():
        if part.get_content_type() != content_type:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            return [
                {k.lower(): str(v) for k, v in block.items()}
                for block in payload
                if isinstance(block, email.message.Message)
            ]
        if isinstance(payload, str):
            return [
                {k.lower(): str(v) for k, v in email.message_from_string(chunk).items()}
                for chunk in re.split(r"\r?\n\r?\n", payload)
                if chunk.strip()
            ]
    return []


def _is_auto_reply(message: email.message.Message) -> bool:
    # RFC 3834 §5: Auto-Submitted other than "no"; common vendor headers too.
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    if auto != "no":
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return True
    precedence = str(message.get("Precedence", "")).lower()
    subject = str(message.get("Subject", "")).lower()
    return precedence in ("auto_reply", "auto-reply") or subject.startswith(
        ("out of office", "automatic reply", "auto:", "absence")
    )
