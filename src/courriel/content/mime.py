"""MIME assembly: a multipart/alternative skeleton built once, filled per message.

The boundary, the part headers and the static header fields are bytes made
once per template version and sender; per message only the two parts are
encoded and joined. A text part of short ASCII lines goes as it is (7bit,
RFC 2045 §2.7); any other part, and always the HTML part (often 100 KB once
MJML has compiled it, with lines longer than SMTP allows), is base64
(RFC 2045 §6.8), several times faster to produce in Python than
quoted-printable. So every line respects the 998 octet limit of RFC 5322
§2.1.1 whatever the template. The boundary starts with "=_", which neither
base64 nor a 7bit part can produce (a 7bit line equal to a boundary line
is checked for), so no body can end a part early.
"""

from __future__ import annotations

import binascii
import secrets

# Room under the 998 octet limit; a longer line sends the part in base64.
MAX_7BIT_LINE = 900


def base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ended by CRLF."""
    encoded = binascii.b2a_base64(data, newline=False)
    cuts = _CUTS if len(encoded) <= _CUTS_COVER else _cuts(len(encoded))
    return b"\r\n".join(map(encoded.__getitem__, cuts[: -(-len(encoded) // 76)])) + b"\r\n"


def _cuts(size: int) -> list[slice]:
    return [slice(i, i + 76) for i in range(0, size + 76, 76)]


# Slices made once: cutting a 150 KB part into lines is then a C-level map.
_CUTS_COVER = 4_000_000
_CUTS = _cuts(_CUTS_COVER)


class MimeSkeleton:
    """The fixed parts of a multipart/alternative message."""

    def __init__(self) -> None:
        self.boundary = f"=_courriel_{secrets.token_hex(12)}"
        b = self.boundary.encode("ascii")
        self.content_headers = (
            b"MIME-Version: 1.0\r\n"
            b'Content-Type: multipart/alternative;\r\n boundary="' + b + b'"\r\n'
        )
        self._b = b"--" + b
        self._text_head_7bit = (
            b"--" + b + b"\r\n"
            b"Content-Type: text/plain; charset=us-ascii\r\n"
            b"Content-Transfer-Encoding: 7bit\r\n\r\n"
        )
        self._text_head_base64 = (
            b"--" + b + b"\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n"
        )
        self._html_head = (
            b"\r\n--" + b + b"\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n"
        )
        self._end = b"--" + b + b"--\r\n"

    def body_parts(self, text: str, html: str) -> list[tuple[bytes, bool]]:
        """The multipart body in parts: (bytes, already DKIM-canonical).

        The base64 HTML part has no whitespace, so it is canonical as it is
        (`dkim.body_hash` skips it); the others are checked.
        """
        return [
            (self._text_part(text) + self._html_head, False),
            (base64_lines(html.encode("utf-8")), True),
            (self._end, False),
        ]

    def _text_part(self, text: str) -> bytes:
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if text.isascii() and max(map(len, lines)) <= MAX_7BIT_LINE and "\x00" not in text:
            body = "\r\n".join(lines).encode("ascii")
            if self._b not in body:
                return self._text_head_7bit + body
        return self._text_head_base64 + base64_lines(text.encode("utf-8")).removesuffix(b"\r\n")

    def message(self, head: bytes, text: str, html: str) -> bytes:
        """Header fields (CRLF-terminated, without the MIME ones) plus the body."""
        parts = self.body_parts(text, html)
        return head + self.content_headers + b"\r\n" + b"".join(p for p, _ in parts)
