"""What goes on the wire: safe SMTP paths, dot-stuffed data, opportunistic TLS."""

from __future__ import annotations

import re
import ssl

import aiosmtplib

__all__ = [
    "dot_stuff",
    "is_transfer_ready",
    "is_valid_path",
    "unstuff",
    "unverified_tls_context",
]

# RFC 5321 §4.5.2: lines starting with "." get one more. Line endings are
# made CRLF first so that a bare LF or CR can never end the data early (SMTP
# smuggling: "\n.\n" is read as the end of DATA by some servers).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A line that starts with a dot. The regular expression finds it (or its
# absence) in a fraction of the time of `in`, whose search is slow when the
# needle starts with a byte as frequent as CR or LF.
_LEADING_DOT = re.compile(rb"\n\.")


def _crlf_only(data: bytes) -> bool:
    crlf = data.count(b"\r\n")
    return data.count(b"\r") == crlf and data.count(b"\n") == crlf


def is_transfer_ready(data: bytes) -> bool:
    """Whether ``data`` is its own transfer form but for the end marker.

    CRLF line endings only, a final CRLF, and no line starting with a dot:
    `dot_stuff` would only add the ``.CRLF`` that ends the data.
    """
    return (
        _crlf_only(data)
        and data.endswith(b"\r\n")
        and not data.startswith(b".")
        and _LEADING_DOT.search(data) is None
    )


def dot_stuff(data: bytes) -> bytes:
    """Return ``data`` as sent after DATA: CRLF lines, dots doubled, ending ``.``.

    Byte counts and replaces run in C over the message; composed messages are
    already CRLF throughout, so usually only the final ``.`` is added.
    """
    if not _crlf_only(data):
        # Each CRLF, lone CR and lone LF becomes one CRLF, as a line-ending
        # regular expression ``\r\n|\r|\n`` would make it.
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if b"\n." in data:
        data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    return data + b".\r\n"


def unstuff(data: bytes) -> bytes:
    """Undo `dot_stuff`'s doubling: one dot off each line that starts with one.

    ``data`` is what came before the end marker (RFC 5321 §4.5.2).
    """
    if data.startswith(b"."):
        data = data[1:]
    if _LEADING_DOT.search(data) is not None:
        data = data.replace(b"\r\n.", b"\r\n")
    return data


# A dot-atom address (RFC 5321 §4.1.2) needs no further check; anything else
# goes through aiosmtplib's parser, which is slow on long VERP local parts.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


def is_valid_path(address: str) -> bool:
    # RFC 5321 §4.1.2: no control characters in a path; aiosmtplib also refuses
    # spaces, brackets and quotes. Checked before MAIL, so no command injection
    # and no transaction left half open.
    if _PLAIN_PATH.fullmatch(address):
        return True
    try:
        aiosmtplib.email.quote_address(address)
    except ValueError:
        return False
    return not _CONTROL.search(address)


def unverified_tls_context() -> ssl.SSLContext:
    # Opportunistic TLS (RFC 7435, RFC 3207): MX certificates are often
    # self-signed or name the wrong host, and a failed check would only push
    # us back to cleartext, which protects nothing. Encrypt without verifying.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
