"""Telling machines from people: privacy proxies, prefetchers and link scanners.

Apple Mail Privacy Protection, Gmail's and Yahoo's image proxies and
security gateways fetch the open pixel (and sometimes every link) without a
person reading anything. Such opens are still recorded — they prove the
message arrived — but flagged `machine` and kept out of human opens; such
clicks are flagged `scanner` and kept out of unique clicks. Two signals:
the user agent, and timing (a fetch within seconds of delivery is a machine
acting on arrival, not a person).
"""

from __future__ import annotations

import datetime as dt

# Opens fetched this soon after delivery are prefetches on arrival.
MACHINE_OPEN_WINDOW = dt.timedelta(seconds=3)
# Clicks this soon after delivery are link scanners (no person is that fast).
SCANNER_CLICK_WINDOW = dt.timedelta(seconds=10)

_PROXY_AGENTS = (
    ("googleimageproxy", "google-image-proxy"),
    ("yahoomailproxy", "yahoo-mail-proxy"),
    ("ymailproxy", "yahoo-mail-proxy"),
    ("apple-mpp", "apple-mpp"),
    ("outlook-ios", "outlook-prefetch"),
    ("ms-office", "microsoft-prefetch"),
)
_SCANNER_AGENTS = (
    ("barracuda", "barracuda"),
    ("mimecast", "mimecast"),
    ("proofpoint", "proofpoint"),
    ("symantec", "symantec"),
    ("safelinks", "microsoft-safe-links"),
    ("bot", "bot"),
    ("spider", "bot"),
    ("crawler", "bot"),
    ("python-requests", "script"),
    ("curl/", "script"),
    ("wget/", "script"),
)
# Apple's proxy sends a bare "Mozilla/5.0" with no platform details.
_APPLE_MPP_EXACT = "mozilla/5.0"


def _since(delivered_at: dt.datetime | None, at: dt.datetime) -> dt.timedelta | None:
    return None if delivered_at is None else at - delivered_at


def machine_open(user_agent: str, at: dt.datetime, delivered_at: dt.datetime | None) -> str | None:
    """Why an open is a machine's (None: a person's, as far as we can tell)."""
    agent = user_agent.strip().lower()
    if not agent:
        return "no-user-agent"
    if agent == _APPLE_MPP_EXACT:
        return "apple-mpp"
    for marker, reason in _PROXY_AGENTS + _SCANNER_AGENTS:
        if marker in agent:
            return reason
    elapsed = _since(delivered_at, at)
    if elapsed is not None and elapsed <= MACHINE_OPEN_WINDOW:
        return "prefetch-on-delivery"
    return None


def scanner_click(user_agent: str, at: dt.datetime, delivered_at: dt.datetime | None) -> str | None:
    """Why a click is a scanner's (None: a person's, as far as we can tell)."""
    agent = user_agent.strip().lower()
    if not agent:
        return "no-user-agent"
    for marker, reason in _SCANNER_AGENTS:
        if marker in agent:
            return reason
    elapsed = _since(delivered_at, at)
    if elapsed is not None and elapsed <= SCANNER_CLICK_WINDOW:
        return "clicked-on-delivery"
    return None
