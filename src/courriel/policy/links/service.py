"""Checking a message's links: each distinct one followed once, results kept per tenant.

The recipe: take the links of the HTML that can be fetched (absolute http(s),
no per-recipient placeholder), drop the ones this tenant checked recently
(its cache, in its own database), follow the others with bounded
concurrency through one HTTP client, look every host on the way up in the
URI blocklists, keep the results, and add the phishing sign of each link
(its shown text naming another domain), which depends on the message, not
the URL. A link with a problem gets one line naming it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from courriel.config import Settings
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.storage import Storage
from courriel.events.webhooks.ssrf import Network, Pin, Resolve, system_resolve
from courriel.policy.links.blocklist import Blocklists, Records
from courriel.policy.links.extract import checkable, host_of, links_of, mismatch, related
from courriel.policy.links.models import LinkCheck
from courriel.policy.links.probe import Limits, Outcome, Prober

T = TypeVar("T")

# Problems that refuse a send; a redirect to another domain alone is a warning
# (partner sites and shorteners do it honestly; the final domain is still
# looked up in the blocklists, which is what a filter holds against us).
BLOCKING = frozenset({"dead", "refused", "blocklisted", "phishing"})
MAX_LINKS = 5_000


@dataclass(frozen=True)
class LinkReport:
    """What checking one link found: ``problems`` as (kind, detail) pairs."""

    url: str
    final_url: str
    status_code: int | None
    problems: tuple[tuple[str, str], ...] = ()
    cached: bool = False
    kinds: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(k for k, _ in self.problems))

    @property
    def blocking(self) -> bool:
        """Whether a problem of this link refuses a send."""
        return bool(self.kinds & BLOCKING)

    @property
    def line(self) -> str:
        """One line naming the link and everything wrong with it."""
        return f"{self.url}: " + "; ".join(detail for _, detail in self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "final_url": self.final_url,
            "status_code": self.status_code,
            "problems": [{"kind": k, "detail": d} for k, d in self.problems],
        }


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to the end from synchronous code, even inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def report_of(outcome: Outcome, listings: Sequence[str]) -> LinkReport:
    """The problems of one followed link."""
    problems: list[tuple[str, str]] = []
    if outcome.refused:
        problems.append(("refused", f"not fetched: {outcome.refused}"))
    if outcome.dead:
        problems.append(("dead", f"dead link ({outcome.dead})"))
    first, last = host_of(outcome.url), host_of(outcome.final_url)
    if not outcome.dead and not outcome.refused and first and last and not related(first, last):
        problems.append(("redirect", f"redirects to {outcome.final_url}, on another domain"))
    problems.extend(("blocklisted", listing) for listing in listings)
    return LinkReport(outcome.url, outcome.final_url, outcome.status_code, tuple(problems))


class LinkChecker:
    """Follows the links of a tenant's messages; see the module docstring."""

    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        *,
        resolve: Resolve = system_resolve,
        allowed: Sequence[Network] = (),
        pinned: Pin | None = None,
        records: Records | None = None,
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self._resolve = resolve
        self._allowed = tuple(allowed)
        self._pinned = pinned
        self._records = records

    def check_html(self, tenant_id: str, html: str) -> list[LinkReport]:
        """A report for each distinct fetchable link of `html`, in document order."""
        links = [link for link in links_of(html) if checkable(link.href)]
        distinct = list(dict.fromkeys(link.href for link in links))
        reports = {r.url: r for r in self.check_urls(tenant_id, distinct)}
        for link in links:
            sign = mismatch(link)
            report = reports.get(link.href)
            if sign is None or report is None or ("phishing", sign) in report.problems:
                continue
            reports[link.href] = LinkReport(
                report.url,
                report.final_url,
                report.status_code,
                (*report.problems, ("phishing", f"phishing sign: the link {sign}")),
                report.cached,
            )
        return [reports[url] for url in distinct if url in reports]

    def check_urls(self, tenant_id: str, urls: Sequence[str]) -> list[LinkReport]:
        """A report for each of `urls` (distinct), from the tenant's cache or fetched now."""
        urls = list(dict.fromkeys(urls))
        over = urls[MAX_LINKS:]
        urls = urls[:MAX_LINKS]
        cached = self._cached(tenant_id, urls)
        missing = [url for url in urls if url not in cached]
        fresh = _run(self._follow_all(missing)) if missing else {}
        self._keep(tenant_id, list(fresh.values()))
        reports = [cached.get(url) or fresh[url] for url in urls]
        reports.extend(
            LinkReport(url, url, None, (("refused", f"not checked: over {MAX_LINKS} links"),))
            for url in over
        )
        return reports

    async def _follow_all(self, urls: Sequence[str]) -> dict[str, LinkReport]:
        settings = self._settings
        limits = Limits(
            timeout_s=settings.link_check_timeout_seconds,
            max_redirects=settings.link_check_max_redirects,
            max_bytes=settings.link_check_max_bytes,
        )
        width = settings.link_check_concurrency
        gate = asyncio.Semaphore(width)
        blocklists = Blocklists(
            settings.link_check_blocklist_zones,
            records=self._records,
            timeout_s=settings.link_check_timeout_seconds,
        )
        # One lookup per host for the whole check, however many links share it.
        lookups: dict[str, asyncio.Task[list[str]]] = {}

        def listings(host: str) -> asyncio.Task[list[str]]:
            if host not in lookups:
                lookups[host] = asyncio.create_task(blocklists.listings(host))
            return lookups[host]

        async with httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=limits.timeout_s,
            limits=httpx.Limits(max_connections=width, max_keepalive_connections=width),
        ) as client:
            prober = Prober(
                client,
                limits,
                resolve=self._resolve,
                allowed=self._allowed,
                pinned=self._pinned,
            )

            async def one(url: str) -> LinkReport:
                async with gate:
                    outcome = await prober.follow(url)
                    found = [await listings(h) for h in dict.fromkeys(outcome.hosts) if h]
                return report_of(outcome, [line for lines in found for line in lines])

            reports = await asyncio.gather(*(one(url) for url in urls))
        return {r.url: r for r in reports}

    def _cached(self, tenant_id: str, urls: Sequence[str]) -> dict[str, LinkReport]:
        if not urls or self._settings.link_check_cache_hours <= 0:
            return {}
        now = self._clock.now()
        keys = {_key(url): url for url in urls}
        found: dict[str, LinkReport] = {}
        with self._storage.tenant(tenant_id)() as session:
            for start in range(0, len(keys), 500):
                chunk = list(keys)[start : start + 500]
                rows = session.scalars(
                    select(LinkCheck).where(
                        LinkCheck.url_hash.in_(chunk), LinkCheck.expires_at > now
                    )
                )
                for row in rows:
                    if keys.get(row.url_hash) != row.url:
                        continue
                    problems = tuple((str(k), str(d)) for k, d in json.loads(row.problems))
                    found[row.url] = LinkReport(
                        row.url, row.final_url, row.status_code, problems, cached=True
                    )
        return found

    def _keep(self, tenant_id: str, reports: Sequence[LinkReport]) -> None:
        hours = self._settings.link_check_cache_hours
        if not reports or hours <= 0:
            return
        now = self._clock.now()
        expires = now + dt.timedelta(hours=hours)
        try:
            with transaction(self._storage.tenant(tenant_id)) as session:
                session.execute(delete(LinkCheck).where(LinkCheck.expires_at <= now))
                keys = [_key(r.url) for r in reports]
                session.execute(delete(LinkCheck).where(LinkCheck.url_hash.in_(keys)))
                session.add_all(
                    LinkCheck(
                        url_hash=_key(r.url),
                        url=r.url,
                        final_url=r.final_url,
                        status_code=r.status_code,
                        problems=json.dumps([list(p) for p in r.problems]),
                        checked_at=now,
                        expires_at=expires,
                    )
                    for r in reports
                )
        except IntegrityError:
            # Another check kept the same links a moment ago: theirs will do.
            pass
