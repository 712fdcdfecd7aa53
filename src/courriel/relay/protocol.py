"""aiosmtpd's SMTP with a cheaper DATA reader and address parser, for the relay.

aiosmtpd reads DATA a line at a time in Python and parses every MAIL and
RCPT path with the RFC 5322 header parser; at hundreds of messages a
second those were a large share of the relay's CPU. This reads the data
in a few stream reads with the sandbox's reader (`sandbox.data`: only
CRLF "." CRLF ends it, held to the RFC by a property test) and takes a
plain `<local@domain>` path with one regular expression, falling back to
aiosmtpd's parser for anything else. Replies and limits stay aiosmtpd's:
SIZE (RFC 1870) is enforced while reading, a line over 1,000 bytes (RFC
5321 §4.5.3.1.6) is refused after it.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiosmtpd.smtp import SMTP

from courriel.core.wire import unstuff
from courriel.sandbox.data import data_allowed, has_long_line, read_message_data

# A dot-atom path in angle brackets, and what follows it (the parameters).
_PLAIN_PATH = re.compile(
    r"\s*<((?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+\.)*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
    r"@(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+)>\s*(.*)",
    re.DOTALL,
)
# The longest text line without its CRLF (RFC 5321 §4.5.3.1.6: 1,000 with it).
MAX_LINE = 998
REPLY_TOO_MUCH = "552 5.3.4 Message size exceeds the limit"
REPLY_LINE_TOO_LONG = "500 5.5.2 Line too long (see RFC 5321 4.5.3.1.6)"
_END_OF_DATA = b".\r\n"


class RelaySMTP(SMTP):
    """See the module docstring."""

    def __init__(self, handler: object, *, data_size_limit: int, **kwargs: Any) -> None:
        # The stream limit is the size limit, so one read can hold a message;
        # command lines keep aiosmtpd's own length checks.
        self.line_length_limit = data_size_limit + len(_END_OF_DATA)
        super().__init__(handler, data_size_limit=data_size_limit, **kwargs)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        match = _PLAIN_PATH.fullmatch(arg)
        if match is None:
            return super()._getaddr(arg)
        address, rest = match.group(1), match.group(2)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest

    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 (aiosmtpd's command name)
        """DATA: aiosmtpd's checks, a fast read, then the handler's DATA hook."""
        envelope = self.envelope
        if envelope is None or not await data_allowed(self, arg):
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        limit = (self.data_size_limit or 0) or 2**31
        try:
            content = unstuff(await read_message_data(self._reader, limit + len(_END_OF_DATA)))
        except asyncio.LimitOverrunError:
            # Over SIZE without an end in sight: refuse, and close rather than
            # read the rest (RFC 1870 §6.3 allows it).
            await self.push(REPLY_TOO_MUCH)
            if self.transport is not None:
                self.transport.close()
            return
        except asyncio.IncompleteReadError:
            return  # The client went away mid-data; nothing was accepted.
        if len(content) > limit:
            await self.push(REPLY_TOO_MUCH)
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        if has_long_line(content, MAX_LINE):
            await self.push(REPLY_LINE_TOO_LONG)
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        envelope.content = envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(status if isinstance(status, str) else "250 OK")
