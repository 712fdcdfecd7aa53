"""Time, passed in rather than read from a global, so tests control it."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    """Tells the current time. All times in Courriel are timezone-aware UTC."""

    def now(self) -> dt.datetime:
        """Return the current time as an aware UTC datetime."""


class SystemClock:
    """See `Clock`."""

    def now(self) -> dt.datetime:
        """See `Clock`."""
        return dt.datetime.now(dt.UTC)


class FrozenClock:
    """A clock for tests: stands still until moved."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        """See `Clock`."""
        return self._now

    def advance(self, **delta: float) -> None:
        """Move the clock forward, e.g. ``advance(minutes=5)``."""
        self._now += dt.timedelta(**delta)
