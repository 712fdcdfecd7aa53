"""The byte side of the SMTP client: write commands, read replies in order.

An asyncio protocol, not a stream: replies are parsed as the bytes arrive
and queued, so several replies that come in one segment (the answers to
pipelined commands, RFC 2920) are all kept, in order, and each wait costs a
future and a timer rather than a task. `smtp.SmtpSession` holds the SMTP
dialogue; this module knows only the reply syntax of RFC 5321 §4.2.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

__all__ = ["ProtocolError", "Reply", "SmtpClientProtocol"]

# RFC 5321 §4.5.3.1.5 limits a reply line to 512 octets; real servers exceed
# it (long EHLO lists, verbose refusals), so accept 8 times that before
# deciding the peer is not speaking SMTP at all.
MAX_REPLY_LINE = 4096
# A multi-line reply longer than this many lines is not an SMTP reply either.
MAX_REPLY_LINES = 256


class ProtocolError(ConnectionError):
    """The peer sent something that is not an SMTP reply; the connection is unusable."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply: its code and its lines' texts (a multi-line reply has several)."""

    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The reply text, lines joined by a newline."""
        return "\n".join(self.lines)


class SmtpClientProtocol(asyncio.Protocol):
    """Queues the server's replies as they arrive; `read` takes them in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self._buffer = b""
        self._lines: list[str] = []
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lost: BaseException | None = None
        # Done when the transport is gone (the server hung up, or we did).
        self.ended: asyncio.Future[None] = loop.create_future()

    @property
    def connected(self) -> bool:
        """Whether the connection is open and has made sense so far."""
        return self._lost is None and self.transport is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP connection's transport is always a full (writable) Transport.
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("connection closed by the server"))
        if not self.ended.done():
            self.ended.set_result(None)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        start = 0
        while self._lost is None and (end := buffer.find(b"\n", start)) >= 0:
            self._line(buffer[start:end])
            start = end + 1
        self._buffer = buffer[start:]
        if len(self._buffer) > MAX_REPLY_LINE:
            self._protocol_error("reply line too long")
        if self._replies and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def eof_received(self) -> bool:
        # Let the transport close; connection_lost then fails any waiter.
        return False

    def write(self, data: bytes) -> None:
        """Send ``data`` (commands, or message content) as is."""
        if self._lost is not None or self.transport is None:
            raise ConnectionResetError("connection closed") from self._lost
        self.transport.write(data)

    async def read(self, timeout: float) -> Reply:  # noqa: ASYNC109 (per-reply RFC 5321 timers)
        """The next reply, waiting at most ``timeout`` seconds for it.

        Raises TimeoutError, or ConnectionError when the connection is gone
        (a reply that arrived before it went is still returned).
        """
        while not self._replies:
            if self._lost is not None:
                raise ConnectionResetError(str(self._lost)) from self._lost
            waiter = self._loop.create_future()
            self._waiter = waiter
            timer = self._loop.call_later(timeout, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        return self._replies.popleft()

    def close(self) -> None:
        """Close the connection after what was written is sent."""
        if self.transport is not None:
            self.transport.close()
        self._fail(ConnectionResetError("connection closed"))

    def abort(self) -> None:
        """Drop the connection at once."""
        if self.transport is not None:
            self.transport.abort()
        self._fail(ConnectionResetError("connection aborted"))

    def _line(self, raw: bytes) -> None:
        line = raw[:-1] if raw.endswith(b"\r") else raw
        # RFC 5321 §4.2: three digits, then "-" on every line of a multi-line
        # reply but the last, which has a space (or nothing) instead.
        code, separator = line[:3], line[3:4]
        if len(line) > MAX_REPLY_LINE or not code.isdigit() or separator not in (b" ", b"-", b""):
            self._protocol_error("not an SMTP reply")
            return
        if self._lines and not line.startswith(self._code):
            self._protocol_error("reply code changed inside a multi-line reply")
            return
        text = line[4:].decode("utf-8", "replace")
        if separator == b"-":
            if len(self._lines) >= MAX_REPLY_LINES:
                self._protocol_error("reply too long")
                return
            self._code = code
            self._lines.append(text)
            return
        lines, self._lines = (*self._lines, text), []
        self._replies.append(Reply(int(code), lines))

    _code = b""

    def _protocol_error(self, why: str) -> None:
        if self.transport is not None:
            self.transport.abort()
        self._fail(ProtocolError(why))

    def _fail(self, exc: BaseException) -> None:
        if self._lost is None:
            self._lost = exc
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            # Replies that did arrive are still read first (see `read`).
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no SMTP reply in time"))
