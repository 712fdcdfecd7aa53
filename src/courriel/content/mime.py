"""MIME assembly of one message: headers and a multipart/alternative body.

Headers follow RFC 5322; non-ASCII display names and subjects are encoded
per RFC 2047 by the stdlib policy; lines are folded to stay under the 998
octet limit of RFC 5322 §2.1.1. DKIM signing and List-Unsubscribe come with
issue 4; the shape here does not change for them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from courriel.content.render import RenderedContent


@dataclass(frozen=True)
class Envelope:
    """Who a message is from and to, as shown in its headers."""

    from_email: str
    from_name: str
    to_email: str
    to_name: str
    message_id: str
    date: dt.datetime


def _address(name: str, email: str) -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def build_message(envelope: Envelope, content: RenderedContent) -> bytes:
    """The message as bytes ready for SMTP DATA (CRLF line ends)."""
    message = EmailMessage(policy=SMTP)
    message["From"] = _address(envelope.from_name, envelope.from_email)
    message["To"] = _address(envelope.to_name, envelope.to_email)
    message["Subject"] = content.subject
    message["Date"] = format_datetime(envelope.date)
    # Stable per (campaign, contact): the recipient's message id is unique
    # and the right-hand side is the sender's domain (RFC 5322 §3.6.4).
    message["Message-ID"] = f"<{envelope.message_id}@{envelope.from_email.rpartition('@')[2]}>"
    message.set_content(content.text, subtype="plain", cte="quoted-printable")
    message.add_alternative(content.html, subtype="html", cte="quoted-printable")
    return message.as_bytes()
