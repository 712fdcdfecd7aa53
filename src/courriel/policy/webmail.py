"""Free webmail domains, whose addresses must never be used in a campaign's From.

These providers publish DMARC ``p=reject`` (RFC 7489 §6.3): a message with
their domain in From that they did not send themselves fails DMARC and is
rejected or junked by every receiver that checks it, and sending as their
users would be impersonation anyway.
"""

from __future__ import annotations

import re

_EXACT = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "ymail.com",
        "rocketmail.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "sfr.fr",
        "laposte.net",
        "web.de",
        "mail.ru",
        "protonmail.com",
        "proton.me",
        # The sandbox internet's free webmail (sandbox/providers.py): refused
        # there as the real ones are here.
        "gmail.test",
        "googlemail.test",
        "yahoo.test",
        "ymail.test",
        "outlook.test",
        "hotmail.test",
    }
)
# A brand under any country or generic suffix: yahoo.fr, hotmail.co.uk, gmx.net, …
_BRANDS = re.compile(
    r"^(yahoo|hotmail|outlook|live|aol|gmx|yandex)\.(com|net|org|[a-z]{2}|co\.[a-z]{2}|com\.[a-z]{2})$"
)


def webmail_refusal(domain: str) -> str | None:
    """Why a From at this domain is refused, or None when it is not a free webmail."""
    domain = domain.lower().rstrip(".")
    if domain in _EXACT or _BRANDS.match(domain):
        return (
            f"{domain} is a free webmail provider whose DMARC policy is p=reject: mail "
            "from it sent through us would be rejected by receivers. Send from a domain "
            "you own and verify it."
        )
    return None
