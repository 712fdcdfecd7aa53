"""Failed attempts, counted per key: a progressive delay, then a temporary lock.

Passwords, API keys and SMTP AUTH are guessed one attempt at a time; each
edge counts failures per account and per source address here and refuses
further attempts until `wait` says zero (OWASP ASVS 5.0 V6.3.1). The caller
answers at once instead of sleeping, so an attacker cannot hold a worker.

Counters live in this process, bounded in the number of keys, like the
public rate limits (web/ratelimit.py); an installation with several HTTP
processes divides the effective limit by their number, which the operations
guide states.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass

from courriel.core.clock import Clock


@dataclass
class _Record:
    failures: int
    locks: int
    blocked_until: dt.datetime | None
    last: dt.datetime


class FailureThrottle:
    """Per-key failure counts: free attempts, then growing delays, then locks.

    With the defaults: failures 1–3 cost nothing; the 4th makes the next
    attempt wait 1 s (then 2 s …); the 5th locks the key for 15 minutes, and
    each lock after that doubles, up to a day. A success clears the key.
    Counts of a key that has been quiet for `forget_after` (after its
    lock, if any) start over.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        free: int = 3,
        lock_after: int = 5,
        base_delay_s: float = 1.0,
        lock_s: float = 900.0,
        max_lock_s: float = 86_400.0,
        forget_after: dt.timedelta = dt.timedelta(days=1),
        max_keys: int = 100_000,
    ) -> None:
        if not 0 <= free < lock_after:
            raise ValueError("free must be below lock_after")
        self._clock = clock
        self._free = free
        self._lock_after = lock_after
        self._base_delay = base_delay_s
        self._lock = lock_s
        self._max_lock = max_lock_s
        self._forget_after = forget_after
        self._max_keys = max_keys
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._mutex = threading.Lock()

    def wait(self, key: str) -> float:
        """Seconds before `key` may be tried again; 0.0 when it may be tried now."""
        now = self._clock.now()
        with self._mutex:
            record = self._current(key, now)
            if record is None or record.blocked_until is None:
                return 0.0
            return max(0.0, (record.blocked_until - now).total_seconds())

    def locked(self, key: str) -> bool:
        """Whether `key` is locked (not merely delayed)."""
        now = self._clock.now()
        with self._mutex:
            record = self._current(key, now)
            return (
                record is not None
                and record.locks > 0
                and record.blocked_until is not None
                and record.blocked_until > now
            )

    def failed(self, key: str) -> float:
        """Count one failure of `key`; returns the seconds it must now wait."""
        now = self._clock.now()
        with self._mutex:
            record = self._current(key, now) or _Record(0, 0, None, now)
            record.failures += 1
            record.last = now
            delay = 0.0
            if record.failures >= self._lock_after:
                delay = min(self._lock * 2**record.locks, self._max_lock)
                record.locks += 1
                record.failures = 0
            elif record.failures > self._free:
                delay = self._base_delay * 2 ** (record.failures - self._free - 1)
            record.blocked_until = now + dt.timedelta(seconds=delay) if delay else None
            self._records[key] = record
            self._records.move_to_end(key)
            while len(self._records) > self._max_keys:
                self._records.popitem(last=False)
            return delay

    def succeeded(self, key: str) -> None:
        """Forget the failures of `key` (a correct password, a valid key)."""
        with self._mutex:
            self._records.pop(key, None)

    def _current(self, key: str, now: dt.datetime) -> _Record | None:
        record = self._records.get(key)
        if record is None:
            return None
        # Quiet time counts from the end of a lock, so a long lock is not forgotten
        # the moment it ends.
        quiet_since = max(record.last, record.blocked_until or record.last)
        if now - quiet_since >= self._forget_after:
            del self._records[key]
            return None
        return record
