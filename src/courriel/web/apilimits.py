"""Rate limits of the authenticated API: per key, per source address, wrong keys.

Every request is counted against its source address (the client address
from `client_address`, trusted proxies only) before its key is looked at,
then against its key once the key is known; beyond either limit the answer
is 429 with Retry-After. Wrong keys are counted per source address in a
`FailureThrottle`: after `api_wrong_keys_free` of them the address must
wait a growing delay, then is locked out, and while it waits no key from it
is even looked at, so guessing cannot run at full speed. A valid key does
not clear the count (an attacker holding one key could otherwise reset it
between guesses); the count is forgotten after a quiet day.

The limits sit behind `RateLimiter` (web/ratelimit.py): counters live in
this process, and an installation with several HTTP processes gives the
same interface a shared store.
"""

from __future__ import annotations

import threading

from courriel.config import Settings
from courriel.core.attempts import FailureThrottle
from courriel.core.clock import Clock
from courriel.core.errors import AuthenticationError, RateLimitedError
from courriel.core.principal import Principal
from courriel.web.ratelimit import MemoryRateLimiter, RateLimiter


class ApiLimits:
    """The API's rate limits and wrong-key throttle, for one application."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        per_key: RateLimiter | None = None,
        per_address: RateLimiter | None = None,
    ) -> None:
        window = settings.api_rate_limit_window_seconds
        self._per_key = per_key or MemoryRateLimiter(settings.api_rate_limit_per_key, window)
        self._per_address = per_address or MemoryRateLimiter(
            settings.api_rate_limit_per_address, window
        )
        free = settings.api_wrong_keys_free
        self._wrong_keys = FailureThrottle(clock, free=free, lock_after=free + 10)

    def before_authentication(self, address: str) -> None:
        """Count a request from `address`; RateLimitedError when it must wait."""
        wait = self._wrong_keys.wait(f"address:{address}")
        if wait > 0:
            raise RateLimitedError(
                "too many wrong API keys from this address; try again later", wait
            )
        wait = self._per_address.hit(f"api:address:{address}")
        if wait > 0:
            raise RateLimitedError("too many requests from this address", wait)

    def wrong_key(self, address: str, error: AuthenticationError) -> AuthenticationError:
        """Count a wrong key from `address`; the error to answer with."""
        self._wrong_keys.failed(f"address:{address}")
        return error

    def after_authentication(self, principal: Principal) -> None:
        """Count a request of an authenticated key; RateLimitedError beyond its limit."""
        wait = self._per_key.hit(f"api:{principal.actor}")
        if wait > 0:
            raise RateLimitedError("too many requests with this API key", wait)


_CREATE = threading.Lock()


def limits_of(state: object, settings: Settings, clock: Clock) -> ApiLimits:
    """The application's `ApiLimits`, made on first use and kept on its state."""
    found = getattr(state, "api_limits", None)
    if isinstance(found, ApiLimits):
        return found
    with _CREATE:
        found = getattr(state, "api_limits", None)
        if not isinstance(found, ApiLimits):
            found = ApiLimits(settings, clock)
            setattr(state, "api_limits", found)  # noqa: B010 (starlette's State)
        return found
