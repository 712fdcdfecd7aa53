"""Header fields of outgoing mail: encoding of names and text, and custom headers.

- Display names and the subject are ASCII, quoted (RFC 5322 §3.2.4) or
  encoded words (RFC 2047 §4.1, UTF-8, base64) so any client shows them.
- An address whose local part is not ASCII cannot be encoded: it is written
  as UTF-8 (RFC 6532), which the receiving server must accept with SMTPUTF8.
- Lines are folded before 78 characters where possible and never reach the
  998 octet limit (RFC 5322 §2.1.1).
- Custom headers carry no control character (CR, LF and NUL would inject
  headers; vertical tab, form feed, escape and the C1 controls are read as
  line breaks or terminal commands by some parsers), cannot replace a header
  Courriel is responsible for, and cannot be a routing header: one that asks
  mail systems or clients to send mail (bounces, receipts, resends) elsewhere.
- A subject with a control character in it (from contact data) is written
  as encoded words, so no control character reaches a header raw.
"""

from __future__ import annotations

import base64
import re

from courriel.core.errors import InvalidInputError

# Headers that Courriel sets and a template may not override.
PROTECTED_HEADERS = frozenset(
    {
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-id",
        "feedback-id",
        "dkim-signature",
        "arc-seal",
        "arc-message-signature",
        "arc-authentication-results",
        "authentication-results",
        "return-path",
        "received",
        "precedence",
    }
)
# Headers that route mail or replies elsewhere (RFC 5322 §3.6.6 Resent-*,
# RFC 8098 receipts, the legacy Errors-To and Return-Receipt-To, delivery
# traces): a template could use them to send bounces, read receipts or
# replies to a third party, or to pass for a message that was forwarded.
ROUTING_HEADERS = frozenset(
    {
        "errors-to",
        "disposition-notification-to",
        "disposition-notification-options",
        "return-receipt-to",
        "read-receipt-to",
        "x-confirm-reading-to",
        "generate-delivery-report",
        "original-recipient",
        "delivered-to",
        "x-original-to",
        "envelope-to",
        "x-envelope-to",
        "x-envelope-from",
        "apparently-to",
        "x-sender",
        "x-receiver",
        "mail-followup-to",
        "mail-reply-to",
        "x-beenthere",
        "x-loop",
    }
)
ROUTING_PREFIXES = ("resent-", "arc-")
# C0 controls but the tab, DEL and the C1 controls.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
MAX_CUSTOM_HEADERS = 20
MAX_HEADER_VALUE = 900
# RFC 5322 §3.6.8: printable US-ASCII except the colon.
_FIELD_NAME = re.compile(r"^[!-9;-~]{1,76}$")
# RFC 5322 §3.2.3 atext plus the space: a phrase of these needs no quoting.
_ATOM_PHRASE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*$")
_ENCODED_WORD_BYTES = 45  # 45 bytes → 60 base64 characters, 72 with "=?utf-8?b?…?="


def validate_custom_headers(headers: dict[str, str]) -> dict[str, str]:
    """Custom headers as stored, or InvalidInputError naming the bad one."""
    if len(headers) > MAX_CUSTOM_HEADERS:
        raise InvalidInputError("headers", f"at most {MAX_CUSTOM_HEADERS} custom headers")
    clean: dict[str, str] = {}
    for name, value in headers.items():
        field = f"headers.{name}"
        if any(ch in name for ch in "\r\n\x00") or not _FIELD_NAME.match(name):
            raise InvalidInputError(field, "a header name is printable ASCII without ':'")
        _check_name(field, name)
        if not isinstance(value, str) or any(ch in value for ch in "\r\n\x00"):
            raise InvalidInputError(field, "must be one line without CR, LF or NUL")
        if _CONTROL.search(value):
            raise InvalidInputError(field, "must not contain control characters")
        if len(value) > MAX_HEADER_VALUE:
            raise InvalidInputError(field, f"must be at most {MAX_HEADER_VALUE} characters")
        if name.lower() in {n.lower() for n in clean}:
            raise InvalidInputError(field, "given twice")
        clean[name] = value.strip()
    return clean


def _check_name(field: str, name: str) -> None:
    if name.startswith("."):
        # RFC 5322 allows it, but SMTP rewrites a line that starts with a
        # dot in transit (RFC 5321 §4.5.2); no real field is named so.
        raise InvalidInputError(field, "a header name cannot start with '.'")
    if name.lower() in PROTECTED_HEADERS:
        raise InvalidInputError(field, f"{name} is set by Courriel and cannot be overridden")
    if name.lower() in ROUTING_HEADERS or name.lower().startswith(ROUTING_PREFIXES):
        raise InvalidInputError(
            field,
            f"{name} is a routing header (it sends bounces, receipts or replies "
            "elsewhere) and is not allowed",
        )


def check_one_line(field: str, value: str, max_length: int) -> None:
    """Refuse CR, LF and NUL (header injection) and over-long values."""
    if any(ch in value for ch in "\r\n\x00"):
        raise InvalidInputError(field, "must be one line without CR, LF or NUL")
    if len(value) > max_length:
        raise InvalidInputError(field, f"must be at most {max_length} characters")


def encoded_words(text: str) -> list[str]:
    """RFC 2047 encoded words of `text`, split on character boundaries."""
    if len(text) * 4 <= _ENCODED_WORD_BYTES or len(text.encode("utf-8")) <= _ENCODED_WORD_BYTES:
        return [_word(text.encode("utf-8"))]
    words: list[str] = []
    chunk = bytearray()
    for ch in text:
        data = ch.encode("utf-8")
        if len(chunk) + len(data) > _ENCODED_WORD_BYTES:
            words.append(_word(bytes(chunk)))
            chunk.clear()
        chunk += data
    if chunk or not words:
        words.append(_word(bytes(chunk)))
    return words


def _word(data: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="


def phrase(name: str) -> str:
    """A display name as an RFC 5322 phrase: atoms, a quoted string or encoded words."""
    if not name:
        return ""
    if not name.isascii():
        return " ".join(encoded_words(name))
    if _ATOM_PHRASE.match(name):
        return name
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _one_line(text: str) -> str:
    # Names come from contact data: a CR or LF would start a new header
    # field (header injection), so control characters become spaces.
    return "".join(" " if ch < " " or ch == "\x7f" else ch for ch in text).strip()


def address(name: str, email: str) -> str:
    """``Name <local@domain>`` with the name encoded and the domain in IDNA form."""
    name = _one_line(name) if name else name
    local, _, domain = email.rpartition("@")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    if not local.isascii():
        # RFC 6532: the address itself is UTF-8; so may the name be.
        shown = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{shown}" <{local}@{domain}>' if name else f"<{local}@{domain}>"
    shown = phrase(name)
    return f"{shown} <{local}@{domain}>" if shown else f"<{local}@{domain}>"


def unstructured(text: str) -> str:
    """An unstructured field body (Subject): folded ASCII or encoded words.

    Control characters (from contact data) go into encoded words too: the
    reader sees what the data said, and no parser meets them raw.
    """
    if not text.isascii() or _CONTROL.search(text):
        return "\r\n ".join(encoded_words(text))
    return fold(text)


def fold(text: str, first_line_room: int = 68) -> str:
    """Fold at spaces so lines stay near 78 characters (and far below 998)."""
    if len(text) <= first_line_room:
        return text
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        room = first_line_room if not lines else 76
        if current and len(current) + 1 + len(word) > room:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    # A word longer than 998 octets cannot be folded; cut it rather than
    # emit an illegal line.
    return "\r\n ".join(line[:990] for line in lines)


def header_line(name: str, value: str) -> bytes:
    """One header field, CRLF-terminated, UTF-8 only when RFC 6532 needs it."""
    return f"{name}: {value}\r\n".encode()
