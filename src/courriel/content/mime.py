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

import base64
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import encode_rfc2231

# RFC 2045 §5.1: type "/" subtype, each a token (kept to the common characters).
_CONTENT_TYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
)
_CONTENT_ID = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]{1,200}$")


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message; `content_id` makes it inline (``cid:`` in the HTML)."""

    filename: str
    content_type: str
    content: bytes
    content_id: str | None = None


def valid_content_type(value: str) -> bool:
    """Whether `value` is a plain ``type/subtype`` (no parameters, nothing to inject)."""
    return bool(_CONTENT_TYPE.match(value))


def valid_content_id(value: str) -> bool:
    """Whether `value` can be written as ``Content-ID: <value>`` as it is."""
    return bool(_CONTENT_ID.match(value))


def _filename_params(filename: str) -> tuple[bytes, bytes]:
    # One line, single spaces (the part headers are body lines, written in
    # relaxed canonical form), no quote or backslash to escape.
    name = " ".join(filename.replace('"', "").replace("\\", "").split()) or "attachment"
    if name.isascii():
        quoted = f'"{name}"'.encode("ascii")
        return b"name=" + quoted, b"filename=" + quoted
    # RFC 2231 §4: a non-ASCII file name, percent-encoded in UTF-8.
    encoded = encode_rfc2231(name, "utf-8").encode("ascii")
    return b"name*=" + encoded, b"filename*=" + encoded


def _attachment_part(boundary: bytes, attachment: Attachment) -> bytes:
    name, filename = _filename_params(attachment.filename)
    disposition = b"inline" if attachment.content_id else b"attachment"
    head = [
        b"\r\n--" + boundary + b"\r\n",
        b"Content-Type: " + attachment.content_type.encode("ascii") + b";\r\n " + name + b"\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Disposition: " + disposition + b";\r\n " + filename + b"\r\n",
    ]
    if attachment.content_id:
        head.append(b"Content-ID: <" + attachment.content_id.encode("ascii") + b">\r\n")
    data = base64.b64encode(attachment.content)
    # RFC 2045 §6.8: lines of at most 76 characters.
    lines = b"\r\n".join(data[i : i + 76] for i in range(0, len(data), 76))
    return b"".join([*head, b"\r\n", lines])


class MimeSkeleton:
    """The fixed parts of a multipart/alternative message (in a multipart/mixed one
    after the files, when there are attachments)."""

    def __init__(self, attachments: Sequence[Attachment] = ()) -> None:
        self.boundary = f"=_courriel_{secrets.token_hex(12)}"
        b = self.boundary.encode("ascii")
        self.content_headers = (
            b"MIME-Version: 1.0\r\n"
            b'Content-Type: multipart/alternative;\r\n boundary="' + b + b'"\r\n'
        )
        self._open = b""
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
        if attachments:
            mixed = f"=_courriel_{secrets.token_hex(12)}".encode("ascii")
            self.content_headers = (
                b"MIME-Version: 1.0\r\n"
                b'Content-Type: multipart/mixed;\r\n boundary="' + mixed + b'"\r\n'
            )
            self._open = (
                b"--" + mixed + b"\r\n"
                b'Content-Type: multipart/alternative;\r\n boundary="' + b + b'"\r\n\r\n'
            )
            files = b"".join(_attachment_part(mixed, a) for a in attachments)
            self.end = b"\r\n--" + b + b"--" + files + b"\r\n--" + mixed + b"--\r\n"

    def body(self, text: list[bytes], html: list[bytes]) -> bytes:
        """The body from the two parts' encoded pieces (`encoded.EncodedPart`)."""
        return b"".join([self._open, self.text_head, *text, self.html_head, *html, self.end])
