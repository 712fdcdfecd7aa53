"""MIME assembly: a multipart/alternative skeleton built once, filled per message.

The boundary, the part headers and the MIME header fields are bytes made
once per template version and sender; per message the two parts arrive
already encoded, in pieces (`encoded.py`), and are joined between them.

Both parts are quoted-printable (RFC 2045 §6.7): HTML is mostly ASCII, so
it stays readable and about as long as the text (base64 would make it a
third longer, and every byte of the body is hashed for DKIM). Every line is
at most 76 characters, whatever the template (RFC 5322 §2.1.1 allows 998).
The boundary starts with "=_", which quoted-printable cannot contain (an
"=" is always followed by two hex digits or a line break), so no body can
end a part early (RFC 2045 §6.7, note 8). The encoded parts, the part
headers and the boundaries have no tab, no run of spaces and no trailing
space, and the body ends with one CRLF: the body is in relaxed canonical
form (RFC 6376 §3.4.4) as it is written.
"""

from __future__ import annotations

import secrets


class MimeSkeleton:
    """The fixed parts of a multipart/alternative message."""

    def __init__(self) -> None:
        self.boundary = f"=_courriel_{secrets.token_hex(12)}"
        b = self.boundary.encode("ascii")
        self.content_headers = (
            b"MIME-Version: 1.0\r\n"
            b'Content-Type: multipart/alternative;\r\n boundary="' + b + b'"\r\n'
        )
        self.text_head = (
            b"--" + b + b"\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        )
        # RFC 2046 §5.1.1: the CRLF before a boundary belongs to the boundary,
        # so a part whose last line ends with a (soft) line break keeps it.
        self.html_head = (
            b"\r\n--" + b + b"\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        )
        self.end = b"\r\n--" + b + b"--\r\n"

    def body(self, text: list[bytes], html: list[bytes]) -> bytes:
        """The body from the two parts' encoded pieces (`encoded.EncodedPart`)."""
        return b"".join([self.text_head, *text, self.html_head, *html, self.end])
