"""Quoted-printable (RFC 2045 §6.7) in pieces, already in DKIM canonical form.

A message's HTML is mostly the template's static text; only the
personalized values change from one recipient to the next. So each piece
of a part is encoded on its own (the static ones once per template version,
the values per message) and the pieces are joined. That works because every
encoded piece starts at the beginning of a line and ends with a line break:
a hard one where the text ends with one, otherwise a soft one (``=`` CRLF,
rule 5), which decoders remove. Pieces joined this way are valid
quoted-printable whatever their order, and decode to the joined text.

The encoder also writes the body in its own relaxed canonical form
(RFC 6376 §3.4.4): no tab (``=09``), never two spaces in a row (the second
is ``=20``) and no space before a line break (``=20``; RFC 2045 rule 3 asks
for that too). So the DKIM body hash of the encoded parts is the SHA-256 of
the bytes as they are, with no canonicalization pass over 100 KB of HTML.

Lines are at most 76 characters (rule 5), far below the 998 octets of
RFC 5322 §2.1.1, and contain no NUL, bare CR or bare LF: any line break in
the text becomes CRLF, which is how text/* types write line breaks.

No line starts with a dot: that one is written "=2E" (`escape_leading_dots`).
It is the one character SMTP changes in transit (RFC 5321 §4.5.2: the
client doubles it, the server takes it off again), so without one a
composed message is its own SMTP transfer form, and the spool need not
scan 60 KB a message to find out.
"""

from __future__ import annotations

import functools
import re

SOFT_BREAK = b"=\r\n"
# RFC 2045 §6.7 rule 5: 76 characters, the "=" of a soft break included.
_WIDTH = 75
# Every byte but printable ASCII other than "=" (rule 2) and the space
# (rule 3) is escaped; applied with str.translate to the bytes read as
# Latin-1 (one character per byte), which runs in C.
_ESCAPES = {
    byte: f"={byte:02X}" for byte in range(256) if not (0x21 <= byte <= 0x7E and byte != 0x3D)
}
del _ESCAPES[0x20]
_SPACE_RUN = re.compile(rb" {2,}")
# Values up to this length are remembered (`encode_short_value`).
SHORT_VALUE = 40


def escape_leading_dots(encoded: bytes) -> bytes:
    """Quoted-printable lines with no line starting with ".": it is written "=2E".

    A line the escape makes longer than 76 characters is cut again with a
    soft break, never inside an escape; what is cut off cannot start with a
    dot either.
    """
    if not encoded.startswith(b".") and b"\n." not in encoded:
        return encoded
    lines: list[bytes] = []
    for encoded_line in encoded.split(b"\r\n"):
        line = encoded_line
        while line.startswith(b"."):
            line = b"=2E" + line[1:]
            if len(line) <= _WIDTH + 1:
                break
            cut = _WIDTH
            if line[cut - 1 : cut] == b"=":
                cut -= 1
            elif line[cut - 2 : cut - 1] == b"=":
                cut -= 2
            lines.append(line[:cut] + b"=")
            line = line[cut:]
        lines.append(line)
    return b"\r\n".join(lines)


def _escape(data: bytes) -> bytes:
    return data.decode("latin-1").translate(_ESCAPES).encode("ascii")


def _escape_run(match: re.Match[bytes]) -> bytes:
    # One literal space, the rest encoded: no run for relaxed canonicalization.
    return b" " + b"=20" * (len(match.group()) - 1)


def _encode_line(line: bytes, *, soft_end: bool) -> list[bytes]:
    """One line of text as encoded lines; all but the last end with a soft break.

    With `soft_end` the last one gets a soft break too (the text goes on in
    the next piece), so it must leave room for its "=".
    """
    escaped = _escape(line)
    if b"  " in escaped:
        escaped = _SPACE_RUN.sub(_escape_run, escaped)
    if escaped.endswith(b" "):
        escaped = escaped[:-1] + b"=20"
    pieces: list[bytes] = []
    start = 0
    last_room = _WIDTH if soft_end else _WIDTH + 1
    while len(escaped) - start > last_room:
        cut = start + _WIDTH
        # Never split an "=XX" escape across lines (every "=" starts one).
        if escaped[cut - 1 : cut] == b"=":
            cut -= 1
        elif escaped[cut - 2 : cut - 1] == b"=":
            cut -= 2
        pieces.append(escaped[start:cut] + b"=")
        start = cut
    pieces.append(escaped[start:] + b"=" if soft_end else escaped[start:])
    return pieces


def encode(text: str) -> bytes:
    """`text` (UTF-8) as a quoted-printable piece: starts and ends a line."""
    if not text:
        return b""
    data = text.encode("utf-8", "surrogatepass")
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    *lines, last = data.split(b"\n")
    encoded: list[bytes] = []
    for line in lines:
        encoded.extend(_encode_line(line, soft_end=False))
    # Ends with a line break: a hard one when the text had it (the last
    # split is then empty), else a soft one.
    if last:
        encoded.extend(_encode_line(last, soft_end=True))
    encoded.append(b"")
    return escape_leading_dots(b"\r\n".join(encoded))


def encode_value(text: str) -> bytes:
    """`encode` for a personalized value, with fast paths for one short line.

    A name or a click URL in ASCII needs no escape: it is its own encoding,
    cut into lines of 75 characters, each ended by a soft break. Short
    values recur from one recipient to the next (a first name, a city, a
    price) and are remembered.
    """
    if len(text) <= SHORT_VALUE:
        return encode_short_value(text)
    return _encode_value(text)


def wrap(data: bytes) -> bytes:
    """Printable ASCII without "=" or two spaces in a row (a URL), as quoted-printable."""
    if len(data) <= _WIDTH:
        return escape_leading_dots(data + SOFT_BREAK)
    return escape_leading_dots(
        b"".join([data[i : i + _WIDTH] + SOFT_BREAK for i in range(0, len(data), _WIDTH)])
    )


def wrap_each(prefix: bytes, items: list[bytes]) -> list[bytes]:
    """`wrap(prefix + item)` of each item (click URLs: a base and the tokens)."""
    wrapped: list[bytes] = []
    append = wrapped.append
    for item in items:
        data = prefix + item
        size = len(data)
        # Only a line's first byte needs looking at for a dot (`wrap` otherwise).
        if size <= _WIDTH and data[:1] != b".":
            append(data + SOFT_BREAK)
        elif size <= 2 * _WIDTH and data[:1] != b"." and data[_WIDTH : _WIDTH + 1] != b".":
            append(data[:_WIDTH] + SOFT_BREAK + data[_WIDTH:] + SOFT_BREAK)
        else:
            append(wrap(data))
    return wrapped


def _encode_value(text: str) -> bytes:
    if text.isascii():
        if text.isprintable() and "=" not in text and "  " not in text:
            # Printable: no tab, CR, LF or other control character.
            data = text.encode("ascii")
            if len(data) <= _WIDTH:
                return escape_leading_dots(data + SOFT_BREAK) if data else b""
            # A line may end with a space here: the soft break's "=" follows it.
            return escape_leading_dots(
                b"".join([data[i : i + _WIDTH] + SOFT_BREAK for i in range(0, len(data), _WIDTH)])
            )
    elif len(text) <= SHORT_VALUE and "\n" not in text and "\r" not in text:
        # "Zoë", "19,90 €": one line once escaped (at most 3 characters a byte).
        escaped = _escape(text.encode("utf-8", "surrogatepass"))
        if b"  " in escaped:
            escaped = _SPACE_RUN.sub(_escape_run, escaped)
        if escaped.endswith(b" "):
            escaped = escaped[:-1] + b"=20"
        if len(escaped) <= _WIDTH:
            return escape_leading_dots(escaped + SOFT_BREAK)
    return encode(text)


# `encode_value` of a value of at most SHORT_VALUE characters.
encode_short_value = functools.lru_cache(maxsize=8192)(_encode_value)
