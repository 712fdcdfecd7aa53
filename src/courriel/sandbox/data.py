"""Reading SMTP message data: only CRLF "." CRLF ends it (RFC 5321 §4.1.1.4).

The sandbox's servers read a message in a couple of stream reads rather
than line by line, because they share the cores with the delivery engine
they are measured against. The end marker is looked for as LF "." CRLF in
the stream and accepted only when a CR comes before that LF: a bare LF
(or CR) before the dot is not a line break here, so nothing can be
smuggled past the end of a message (CVE-2023-51764 and friends).

Reading up to a CR first (`readuntil(b"\\r")`) leaves the LF of a line
break in the stream, so the search that follows sees the marker even when
it comes right at the start of a line: after the DATA command, or after
a line the search stopped at but that was not the end.
"""

from __future__ import annotations

import asyncio

from aiosmtpd.smtp import SMTP

__all__ = ["data_allowed", "has_long_line", "read_message_data"]

_CR = b"\r"
_MARKER = b"\n.\r\n"
# How far apart the windows of `has_long_line` start.
_WINDOW = 500


async def read_message_data(reader: asyncio.StreamReader, limit: int) -> bytes:
    """The data after DATA's 354, up to the end marker, dots still doubled.

    The CRLF before the marker belongs to the data's last line and is kept.
    Raises `asyncio.LimitOverrunError` past ``limit`` bytes and
    `asyncio.IncompleteReadError` when the client goes away first.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        # At the start of a line here.
        head = await reader.readuntil(_CR)
        if head == b".\r":
            after = await reader.readexactly(1)
            if after == b"\n":
                break  # ".CRLF" at the start of a line: the end.
            head += after
        chunks.append(head)
        rest = await reader.readuntil(_MARKER)
        chunks.append(rest)
        size += len(head) + len(rest)
        if size > limit:
            raise asyncio.LimitOverrunError("message over the size limit", size)
        # The LF of the marker ends a line only after a CR, which may be the
        # last byte of the previous read when ``rest`` is the marker alone.
        size_of_marker = len(_MARKER)
        before = (
            rest[-size_of_marker - 1 : -size_of_marker] if len(rest) > size_of_marker else head[-1:]
        )
        if before == _CR:
            chunks[-1] = rest[: 1 - size_of_marker]  # Drop ".CRLF", keep the line's CRLF.
            break
        # A bare LF before ".CRLF": that line is data; the next starts here.
    return b"".join(chunks)


def has_long_line(data: bytes, longest: int) -> bool:
    """Whether a line of ``data`` (CRLF-separated) is longer than ``longest`` bytes.

    A line of 2 * _WINDOW bytes or more holds one of the windows
    ``[k * _WINDOW, (k + 1) * _WINDOW)`` whole, with no CRLF starting in
    it; so only when some window has none are the lines measured one by
    one. On a composed message that is about a sixth of splitting it.
    """
    if len(data) <= longest:
        return False
    if longest >= 2 * _WINDOW - 1:
        find = data.find
        # A CRLF starting at the window's last byte ends one byte after it.
        if all(
            find(b"\r\n", start, start + _WINDOW + 1) >= 0
            for start in range(0, len(data) - _WINDOW + 1, _WINDOW)
        ):
            return False
    return max(map(len, data.split(b"\r\n"))) > longest


async def data_allowed(server: SMTP, arg: str) -> bool:
    """aiosmtpd's own checks before DATA, replying when one fails.

    For servers that read DATA themselves (`read_message_data`) instead of
    through aiosmtpd's line-by-line reader.
    """
    if await server.check_helo_needed() or await server.check_auth_needed("DATA"):
        return False
    if server.envelope is None or not server.envelope.rcpt_tos:
        await server.push("503 Error: need RCPT command")
        return False
    if arg:
        await server.push("501 Syntax: DATA")
        return False
    return True
