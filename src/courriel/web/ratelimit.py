"""Rate limits for public endpoints (sign-up forms) and the API, behind a small interface.

The embedded installation keeps counters in memory; an installation with
several HTTP processes gives the same interface a shared store (Redis or a
PostgreSQL table) so the limit holds across them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Protocol


class RateLimiter(Protocol):
    """Counts attempts per key within a sliding window."""

    def allow(self, key: str) -> bool:
        """Record one attempt for `key`; False when it exceeds the limit."""
        ...

    def hit(self, key: str) -> float:
        """Record one attempt for `key`; 0.0 when within the limit, else the seconds
        until the window lets `key` in again (the `Retry-After` of a 429)."""
        ...


class MemoryRateLimiter:
    """Fixed-window counters in this process, bounded in the number of keys."""

    def __init__(self, limit: int, window_seconds: float, max_keys: int = 100_000) -> None:
        self._limit = limit
        self._window = window_seconds
        self._max_keys = max_keys
        self._counts: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """See `RateLimiter.allow`."""
        return self.hit(key) == 0.0

    def hit(self, key: str) -> float:
        """See `RateLimiter.hit`."""
        now = time.monotonic()
        with self._lock:
            start, count = self._counts.pop(key, (now, 0))
            if now - start >= self._window:
                start, count = now, 0
            count += 1
            self._counts[key] = (start, count)
            while len(self._counts) > self._max_keys:
                self._counts.popitem(last=False)
            if count <= self._limit:
                return 0.0
            return max(self._window - (now - start), 0.001)
