"""What each event adds to the statistics: metric names, dimensions, providers.

An event is turned into counter increments once, when it is recorded
(`tracking.recorder`); statistics are then read back from those counters.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

from courriel.events.models import EventType

# Tenant-wide counters use this campaign id (no campaign has an empty id).
TENANT_WIDE = ""

# Substrings of a lane (MX host set) or a domain, and the provider they mean.
# Order matters: the first match wins.
_PROVIDERS: tuple[tuple[str, str], ...] = (
    ("google", "google"),
    ("gmail", "google"),
    ("yahoo", "yahoo"),
    ("ymail", "yahoo"),
    ("aol", "yahoo"),
    ("outlook", "microsoft"),
    ("hotmail", "microsoft"),
    ("live.", "microsoft"),
    ("msn.", "microsoft"),
    ("microsoft", "microsoft"),
    ("icloud", "apple"),
    ("me.com", "apple"),
    ("apple", "apple"),
    ("gmx", "gmx"),
    ("web.de", "gmx"),
    ("orange", "orange"),
    ("free.fr", "free"),
    ("laposte", "laposte"),
)


@functools.lru_cache(maxsize=4096)
def provider_of(lane: str | None) -> str:
    """The inbox provider behind a lane or a domain: google, yahoo, microsoft, … or other."""
    if not lane:
        return "other"
    lowered = lane.lower()
    return next((name for marker, name in _PROVIDERS if marker in lowered), "other")


_PLAIN: dict[EventType, str] = {
    EventType.QUEUED: "queued",
    EventType.SENT: "sent",
    EventType.SKIPPED: "skipped",
    EventType.FAILED: "failed",
    EventType.DELIVERED: "delivered",
    EventType.DEFERRED: "deferred",
    EventType.BLOCKED: "blocked",
    EventType.EXPIRED: "expired",
    EventType.UNSUBSCRIBED: "unsubscribed",
    EventType.COMPLAINED: "complained",
    EventType.SPAM_TRAP_HIT: "spam_trap_hits",
}


@dataclass(frozen=True)
class Facts:
    """What the recorder knows about one event beyond its row."""

    type: EventType
    detail: dict[str, object]
    first_open: bool = False
    first_human_open: bool = False
    first_click: bool = False
    first_link_click: bool = False


def metrics(facts: Facts) -> Iterator[str]:
    """The campaign-level metrics one event adds 1 to."""
    if facts.type in _PLAIN:
        yield _PLAIN[facts.type]
    elif facts.type is EventType.BOUNCED:
        yield "bounced"
        yield "bounced_hard" if facts.detail.get("bounce") == "hard" else "bounced_soft"
    elif facts.type is EventType.OPENED:
        yield "opens"
        yield "opens_machine" if facts.detail.get("machine") else "opens_human"
        if facts.first_open:
            yield "unique_opens"
        if facts.first_human_open:
            yield "unique_human_opens"
    elif facts.type is EventType.CLICKED:
        yield "clicks"
        yield "clicks_scanner" if facts.detail.get("scanner") else "clicks_human"
        if facts.first_click:
            yield "unique_clicks"


def link_metrics(facts: Facts) -> Iterator[str]:
    """The per-link metrics one click adds 1 to."""
    if facts.type is not EventType.CLICKED:
        return
    yield "clicks"
    if facts.detail.get("scanner"):
        yield "clicks_scanner"
    if facts.first_link_click:
        yield "unique_clicks"


FIGURES = (
    "queued",
    "sent",
    "skipped",
    "failed",
    "delivered",
    "deferred",
    "bounced",
    "bounced_hard",
    "bounced_soft",
    "blocked",
    "expired",
    "opens",
    "opens_human",
    "opens_machine",
    "unique_opens",
    "unique_human_opens",
    "clicks",
    "clicks_human",
    "clicks_scanner",
    "unique_clicks",
    "unsubscribed",
    "complained",
    "spam_trap_hits",
)


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def rates(figures: dict[str, int]) -> dict[str, float]:
    """Every rate of a set of figures; a rate over nothing is 0.

    "Sent" is what reached the delivery engine: the `sent` events when the
    engine reports them, else the messages queued for it, else (a slice
    such as a provider, known only once a receiving server answered) the
    messages whose fate is final there.
    """
    delivered = figures.get("delivered", 0)
    final = delivered + sum(figures.get(k, 0) for k in ("bounced", "blocked", "expired"))
    sent = figures.get("sent", 0) or figures.get("queued", 0) or final
    unique_opens = figures.get("unique_opens", 0)
    unique_clicks = figures.get("unique_clicks", 0)
    return {
        "delivery_rate": _ratio(delivered, sent),
        "bounce_rate": _ratio(figures.get("bounced", 0), sent),
        "hard_bounce_rate": _ratio(figures.get("bounced_hard", 0), sent),
        "soft_bounce_rate": _ratio(figures.get("bounced_soft", 0), sent),
        "block_rate": _ratio(figures.get("blocked", 0), sent),
        "deferral_rate": _ratio(figures.get("deferred", 0), sent),
        "expiry_rate": _ratio(figures.get("expired", 0), sent),
        "open_rate": _ratio(unique_opens, delivered),
        "human_open_rate": _ratio(figures.get("unique_human_opens", 0), delivered),
        "click_rate": _ratio(unique_clicks, delivered),
        "click_to_open_rate": _ratio(unique_clicks, unique_opens),
        "unsubscribe_rate": _ratio(figures.get("unsubscribed", 0), delivered),
        "complaint_rate": _ratio(figures.get("complained", 0), delivered),
        "spam_trap_rate": _ratio(figures.get("spam_trap_hits", 0), sent),
    }
