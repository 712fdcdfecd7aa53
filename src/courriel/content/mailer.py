"""The one mailer: how every system message reaches the spool.

Sign-up confirmations, re-permission requests, sending-policy notices and
test sends are composed by their own use cases (each says what it writes);
all of them leave through `Mailer.send`, so every system message gets the
same envelope rules and queue lifetime. A message's envelope sender is its
own VERP return path (`courriel.delivery.verp`) unless the message names a
fixed one, so a bounce of a confirmation or test send maps back to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from courriel.config import Settings
from courriel.delivery.spool import NewMessage, Spool
from courriel.delivery.verp import encode_return_path


@dataclass(frozen=True)
class SystemMail:
    """One composed system message and whom it goes to."""

    tenant_id: str
    message_id: str
    to: str
    body: bytes
    contact_id: str | None = None
    # The body is already in SMTP transfer form (our composer's output).
    transfer_ready: bool = False
    # A fixed envelope sender; None gives the message its VERP return path.
    envelope_from: str | None = None


class Mailer:
    """Puts system mail in the spool (the durable queue of the delivery engine)."""

    def __init__(self, settings: Settings, spool: Spool, secret_key: bytes) -> None:
        self._settings = settings
        self._spool = spool
        self._key = secret_key

    def send(self, mails: Sequence[SystemMail], now: dt.datetime) -> None:
        """Queue `mails`; each is durable when this returns."""
        if not mails:
            return
        domain = self._settings.return_path_domain
        self._spool.enqueue(
            [
                NewMessage(
                    tenant_id=mail.tenant_id,
                    message_id=mail.message_id,
                    campaign_id=None,
                    contact_id=mail.contact_id,
                    mail_from=mail.envelope_from
                    or encode_return_path(self._key, mail.tenant_id, mail.message_id, domain),
                    rcpt_to=mail.to,
                    body=mail.body,
                    transfer_ready=mail.transfer_ready,
                )
                for mail in mails
            ],
            now=now,
            lifetime=dt.timedelta(hours=self._settings.queue_lifetime_hours),
        )
