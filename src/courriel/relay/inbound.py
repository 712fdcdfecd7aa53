"""The return-path SMTP server: where DSNs and complaint reports arrive,
and the mails people send to the List-Unsubscribe `mailto:` (RFC 2369).

Protocol and policy are split as in aiosmtpd: aiosmtpd runs the protocol
(and ends DATA only at CRLF.CRLF, RFC 5321 §4.1.1.4, so nothing can be
smuggled past the end of a message), these hooks only decide: RCPT accepts
our VERP return paths and the unsubscribe address alone, DATA hands the
message to the `ReturnProcessor` (or to `MailtoUnsubscribes`). A failure on
our side answers 451, so the sender keeps the report and tries again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiosmtpd.smtp import SMTP

if TYPE_CHECKING:
    from aiosmtpd.smtp import Envelope, Session

    from courriel.tracking.bounces import ReturnProcessor
    from courriel.tracking.mailto import MailtoUnsubscribes

log = logging.getLogger(__name__)

REPLY_OK = "250 2.0.0 OK"
REPLY_RCPT_OK = "250 2.1.5 OK"
REPLY_NO_SUCH_USER = "550 5.1.1 No such return path here"
REPLY_LOCAL_ERROR = "451 4.3.0 Local error in processing, try again later"
DATA_SIZE_LIMIT = 10 * 1024 * 1024


class ReturnPathHandler:
    """aiosmtpd hooks of the return-path server."""

    def __init__(
        self, processor: ReturnProcessor, unsubscribes: MailtoUnsubscribes | None = None
    ) -> None:
        self.processor = processor
        self.unsubscribes = unsubscribes

    def _is_unsubscribe(self, address: str) -> bool:
        return self.unsubscribes is not None and self.unsubscribes.accepts(address)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self,
        _server: SMTP,
        _session: Session,
        envelope: Envelope,
        address: str,
        _rcpt_options: list[str],
    ) -> str:
        """Accept only our own (VERP, tagged) return paths and the unsubscribe address."""
        if not (self.processor.accepts(address) or self._is_unsubscribe(address)):
            return REPLY_NO_SUCH_USER
        envelope.rcpt_tos.append(address)
        return REPLY_RCPT_OK

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, _server: SMTP, _session: Session, envelope: Envelope
    ) -> str:
        """Record what the message reports, for each return path it was sent to."""
        content = envelope.original_content or b""
        try:
            for rcpt in envelope.rcpt_tos:
                if self.unsubscribes is not None and self._is_unsubscribe(rcpt):
                    # Accepted either way: a reply could only tell a prober
                    # whether a token is genuine.
                    done = await asyncio.to_thread(self.unsubscribes.process, content)
                    log.info("unsubscribe by mail: %s", "done" if done else "no valid token")
                    continue
                outcome = await asyncio.to_thread(self.processor.process, rcpt, content)
                log.info("return path message: %s -> %s", outcome.kind, outcome.event)
        except Exception:
            log.exception("could not record a returned message")
            return REPLY_LOCAL_ERROR
        return REPLY_OK


class ReturnPathServer:
    """The return-path SMTP server on the current event loop."""

    def __init__(
        self,
        processor: ReturnProcessor,
        host: str,
        port: int,
        unsubscribes: MailtoUnsubscribes | None = None,
    ) -> None:
        self._handler = ReturnPathHandler(processor, unsubscribes)
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self.address: tuple[str, int] | None = None

    async def start(self) -> tuple[str, int]:
        """Listen; return the (host, port) bound (port 0 picks a free one)."""
        loop = asyncio.get_running_loop()

        def protocol() -> SMTP:
            return SMTP(
                self._handler,
                hostname="bounces",
                ident="Courriel return path",
                data_size_limit=DATA_SIZE_LIMIT,
                decode_data=False,
                loop=loop,
            )

        self._server = await loop.create_server(protocol, self._host, self._port)
        ip, port = self._server.sockets[0].getsockname()[:2]
        self.address = (str(ip), int(port))
        return self.address

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
