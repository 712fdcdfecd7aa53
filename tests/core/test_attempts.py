"""Failed attempts: free ones, growing delays, then locks that grow, per key."""

from __future__ import annotations

import pytest

from courriel.core.attempts import FailureThrottle
from courriel.core.clock import FrozenClock


def test_delays_grow_then_the_key_locks_for_fifteen_minutes() -> None:
    clock = FrozenClock()
    throttle = FailureThrottle(clock)
    assert [throttle.failed("user:ann") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert throttle.wait("user:ann") == 0.0
    assert throttle.failed("user:ann") == 1.0
    assert throttle.wait("user:ann") == 1.0
    assert not throttle.locked("user:ann")
    assert throttle.failed("user:ann") == 900.0
    assert throttle.locked("user:ann")
    clock.advance(minutes=14, seconds=59)
    assert throttle.wait("user:ann") == 1.0
    clock.advance(seconds=1)
    assert throttle.wait("user:ann") == 0.0
    # Another key was never touched.
    assert throttle.wait("user:bob") == 0.0


def test_each_lock_is_longer_than_the_last_up_to_a_day() -> None:
    clock = FrozenClock()
    throttle = FailureThrottle(clock)
    locks = []
    for _ in range(9):
        for _ in range(4):
            throttle.failed("ip:203.0.113.9")
        locks.append(throttle.failed("ip:203.0.113.9"))
        clock.advance(seconds=locks[-1])
    assert locks == [900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 57600.0, 86400.0, 86400.0]


def test_a_success_clears_and_quiet_keys_are_forgotten() -> None:
    clock = FrozenClock()
    throttle = FailureThrottle(clock)
    for _ in range(4):
        throttle.failed("k")
    throttle.succeeded("k")
    assert throttle.wait("k") == 0.0
    for _ in range(3):
        assert throttle.failed("k") == 0.0
    clock.advance(days=1)
    assert throttle.failed("k") == 0.0, "a day of quiet starts the count over"


def test_the_number_of_keys_is_bounded() -> None:
    throttle = FailureThrottle(FrozenClock(), free=0, lock_after=1, max_keys=2)
    for key in ("a", "b", "c"):
        throttle.failed(key)
    assert throttle.wait("a") == 0.0
    assert throttle.wait("c") == 900.0


def test_free_must_be_below_the_lock() -> None:
    with pytest.raises(ValueError, match="free must be below lock_after"):
        FailureThrottle(FrozenClock(), free=5, lock_after=5)
