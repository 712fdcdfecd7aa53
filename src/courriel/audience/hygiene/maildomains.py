"""Can a domain receive mail at all? DNS answers, cached, a few at a time.

A domain that does not exist, has neither MX nor address records (RFC 5321
§5.1), or publishes the null MX of RFC 7505 (`MX 0 .`: "this domain accepts
no mail") will hard-bounce every message: such addresses are refused at
import and sign-up. The lookups use the delivery engine's own `MxResolver`,
so the sandbox internet's zone file answers for its domains exactly as it
does for delivery.

A lookup that gets no answer (timeout, SERVFAIL, no reachable name server)
says nothing about the domain: the check is skipped, never failed, and the
report says so. After one such failure DNS counts as unreachable for a
while, so an offline installation pays one timeout, not one per domain.
Negative answers are trusted only once a probe domain that surely has mail
(`hygiene_dns_probe`) resolved: a resolver that answers "no such domain" to
everything is not the internet's.
Names reserved for documentation and tests (RFC 2606, RFC 6761) are
checked only when the sandbox zone holds them.
"""

from __future__ import annotations

import asyncio
import enum
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from courriel.delivery.mx import MxError, MxResolver, StaticMxResolver

T = TypeVar("T")

RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost"})
RESERVED_DOMAINS = frozenset({"example.com", "example.net", "example.org"})


class DomainVerdict(enum.StrEnum):
    """What the DNS says about a domain's mail."""

    OK = "ok"
    REFUSED = "refused"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class DomainCheck:
    """A domain's verdict and, unless OK, the reason in words."""

    verdict: DomainVerdict
    reason: str = ""


_REASONS = {
    "null-mx": "publishes a null MX (RFC 7505): it accepts no mail",
    "nxdomain": "does not exist",
    "no-address": "has no mail server (neither MX nor address records)",
}
OFFLINE = DomainCheck(DomainVerdict.SKIPPED, "DNS unreachable: mail servers not checked")
RESERVED = DomainCheck(DomainVerdict.SKIPPED, "reserved name (RFC 2606): not checked")


def reserved(domain: str) -> bool:
    """Whether `domain` is a name for documentation and tests, never on the internet."""
    return domain.rpartition(".")[2] in RESERVED_TLDS or any(
        domain == d or domain.endswith("." + d) for d in RESERVED_DOMAINS
    )


class MailDomains:
    """Verdicts on domains' mail, cached (`ttl` seconds, offline for `retry_offline`)."""

    def __init__(
        self,
        resolver: MxResolver,
        *,
        enabled: bool = True,
        concurrency: int = 16,
        timeout: float = 3.0,
        ttl: float = 3600.0,
        retry_offline: float = 60.0,
        probe: str = "",
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolver = resolver
        self._enabled = enabled
        self._concurrency = max(1, concurrency)
        self._timeout = timeout
        self._ttl = ttl
        self._retry_offline = retry_offline
        self._max_entries = max_entries
        self._clock = clock
        self._cache: dict[str, tuple[float, DomainCheck]] = {}
        self._offline_until = 0.0
        self._probe = probe
        self._probed_until = 0.0
        self._lock = threading.Lock()

    def check(self, domains: Iterable[str]) -> dict[str, DomainCheck]:
        """The verdict on each of `domains` (lower-case ASCII), looked up at most once."""
        wanted = set(domains)
        if not self._enabled:
            return dict.fromkeys(wanted, DomainCheck(DomainVerdict.OK))
        now = self._clock()
        verdicts: dict[str, DomainCheck] = {}
        missing: list[str] = []
        with self._lock:
            for domain in wanted:
                cached = self._cache.get(domain)
                if cached is not None and cached[0] > now:
                    verdicts[domain] = cached[1]
                elif reserved(domain) and not self._in_zone(domain):
                    verdicts[domain] = RESERVED
                elif self._offline_until > now and not self._in_zone(domain):
                    verdicts[domain] = OFFLINE
                else:
                    missing.append(domain)
        if missing:
            found = _run(self._look_up(missing))
            verdicts.update(found)
        return verdicts

    def _in_zone(self, domain: str) -> bool:
        return isinstance(self._resolver, StaticMxResolver) and self._resolver.knows(domain)

    async def _look_up(self, domains: list[str]) -> dict[str, DomainCheck]:
        gate = asyncio.Semaphore(self._concurrency)
        if any(not self._in_zone(d) for d in domains) and not await self._dns_answers():
            self._offline_until = self._clock() + self._retry_offline

        async def one(domain: str) -> tuple[str, DomainCheck]:
            async with gate:
                return domain, await self._verdict(domain)

        results = dict(await asyncio.gather(*(one(d) for d in domains)))
        now = self._clock()
        with self._lock:
            if len(self._cache) + len(results) > self._max_entries:
                self._cache = {d: e for d, e in self._cache.items() if e[0] > now}
                while self._cache and len(self._cache) + len(results) > self._max_entries:
                    del self._cache[next(iter(self._cache))]
            for domain, result in results.items():
                if result is OFFLINE:
                    self._offline_until = now + self._retry_offline
                else:
                    self._cache[domain] = (now + self._ttl, result)
        return results

    async def _dns_answers(self) -> bool:
        """Whether DNS answers for the internet: the probe domain (which surely
        has mail) resolves. A resolver that says "no such domain" to every
        name (a machine cut off from the internet, a captive portal) must not
        get every address refused."""
        if not self._probe or self._probed_until > self._clock():
            return True
        verdict = await self._verdict(self._probe)
        if verdict.verdict is not DomainVerdict.OK:
            return False
        self._probed_until = self._clock() + self._ttl
        return True

    async def _verdict(self, domain: str) -> DomainCheck:
        # The sandbox zone answers for its names whatever the state of DNS.
        if self._offline_until > self._clock() and not self._in_zone(domain):
            return OFFLINE
        try:
            await asyncio.wait_for(self._resolver.resolve(domain), self._timeout)
        except TimeoutError:
            return OFFLINE
        except MxError as exc:
            if exc.kind == "temporary":
                return OFFLINE
            return DomainCheck(DomainVerdict.REFUSED, f"{domain} {_REASONS[exc.kind]}")
        return DomainCheck(DomainVerdict.OK)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to its end from synchronous code, in or out of an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called from inside a loop (an async caller of a sync service): a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
