"""Unsubscribing by mail: the `mailto:` of List-Unsubscribe (RFC 2369 §3.2).

Marketing messages carry ``<mailto:unsubscribe@{return_path_domain}?subject=
unsubscribe%20{token}>`` beside the one-click URL. A mail client that uses it
sends a message to that address with that subject (RFC 6068: the hfields of
the URL become header fields); the return-path server accepts the address
and hands the message here. The token is the same signed unsubscribe token
as the URL's, so it alone names the tenant and the message: a mail without a
valid one (or with a forged one) changes nothing. Some clients drop the
subject, so the text of the body is searched too.
"""

from __future__ import annotations

import contextlib
import email.policy
import re
from email.message import EmailMessage
from email.parser import BytesParser

from courriel.tracking.tracker import Tracker

LOCAL_PART = "unsubscribe"
# A token as `content/links.py` writes them (URL-safe base64 and dots).
_TOKEN = re.compile(r"unsubscribe\s+([A-Za-z0-9_.\-]{20,400})", re.IGNORECASE)
_BODY_LIMIT = 64 * 1024


class MailtoUnsubscribes:
    """Unsubscribes the people who mail the List-Unsubscribe address."""

    def __init__(self, tracker: Tracker, domain: str) -> None:
        self._tracker = tracker
        self.address = f"{LOCAL_PART}@{domain}".lower()

    def accepts(self, address: str) -> bool:
        """Whether `address` is our unsubscribe address (RFC 5321 §2.4: the domain is
        case-insensitive; we also take the local part so, as mail clients vary)."""
        return address.strip().strip("<>").lower() == self.address

    def process(self, data: bytes) -> bool:
        """Unsubscribe the recipient of the message the mail names; False: none named."""
        message = BytesParser(policy=email.policy.default).parsebytes(data)
        for token in _tokens(message):
            ref = self._tracker.unsubscribe_ref(token)
            if ref is None:
                continue
            outcome = self._tracker.unsubscribe(ref, None, "mailto", method="mailto")
            return outcome is not None
        return False


def _tokens(message: EmailMessage) -> list[str]:
    texts = [str(message.get("subject", ""))]
    body = message.get_body(preferencelist=("plain",))
    if body is not None:
        with contextlib.suppress(LookupError, UnicodeError):
            texts.append(str(body.get_content())[:_BODY_LIMIT])
    return [m.group(1) for text in texts for m in _TOKEN.finditer(text)]
