"""Following one link to where it ends, through the SSRF guard at every hop.

Each hop is checked by `courriel.events.webhooks.ssrf.check_url` (public
addresses only, or a host the sandbox's zone file pins) and the request goes
to the checked address, so a redirect to ``http://127.0.0.1/`` or a name
that resolves to a private address is refused before any byte is sent.
HEAD first, as it costs the site nothing; GET when HEAD is refused or fails
(405 or 501: RFC 9110 §9.3.2 lets a server not implement HEAD; some answer
403 or 404 to HEAD alone, and a link is only called dead on a GET's word),
reading at most `Limits.max_bytes` of the body. Redirects are followed by hand, at most
`Limits.max_redirects`, each target checked again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from courriel.core.errors import InvalidInputError
from courriel.events.webhooks.ssrf import (
    Network,
    Pin,
    Resolve,
    Target,
    UnresolvableError,
    check_url,
)
from courriel.policy.links.extract import host_of

REDIRECTS = frozenset({301, 302, 303, 307, 308})  # RFC 9110 §15.4
USER_AGENT = "Courriel-LinkCheck/1 (+checking links before a send)"


@dataclass(frozen=True)
class Limits:
    """How far a link is followed: time for the whole chain, hops, body bytes."""

    timeout_s: float = 5.0
    max_redirects: int = 5
    max_bytes: int = 65_536


@dataclass(frozen=True)
class Outcome:
    """Where a link ended: the final URL, its status, every host on the way.

    ``dead`` says why the link does not lead to a page (DNS failure, HTTP
    error, timeout, too many redirects); ``refused`` why the guard would not
    fetch a hop (a private or loopback address). Both None: the link works.
    """

    url: str
    final_url: str
    status_code: int | None
    hosts: tuple[str, ...]
    dead: str | None = None
    refused: str | None = None


class Prober:
    """Follows links with one HTTP client (its pool shared by every link of a check)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        limits: Limits,
        *,
        resolve: Resolve,
        allowed: Sequence[Network] = (),
        pinned: Pin | None = None,
    ) -> None:
        self._client = client
        self._limits = limits
        self._resolve = resolve
        self._allowed = tuple(allowed)
        self._pinned = pinned

    async def follow(self, url: str) -> Outcome:
        """Follow `url` to its final page within the limits."""
        hosts: list[str] = []
        try:
            async with asyncio.timeout(self._limits.timeout_s):
                return await self._chain(url, hosts)
        except TimeoutError:
            why = f"no answer within {self._limits.timeout_s:g} s"
            return Outcome(url, url, None, tuple(hosts), dead=why)

    async def _chain(self, url: str, hosts: list[str]) -> Outcome:
        current = url
        for _ in range(self._limits.max_redirects + 1):
            hosts.append(host_of(current))
            try:
                target = await self._check(current)
            except UnresolvableError as exc:
                return Outcome(url, current, None, tuple(hosts), dead=f"DNS: {exc.reason}")
            except InvalidInputError as exc:
                return Outcome(url, current, None, tuple(hosts), refused=exc.reason)
            try:
                status, location = await self._ask(target)
            except httpx.TimeoutException:
                return Outcome(url, current, None, tuple(hosts), dead="timed out")
            except httpx.HTTPError as exc:
                why = f"connection failed ({type(exc).__name__})"
                return Outcome(url, current, None, tuple(hosts), dead=why)
            if status in REDIRECTS and location:
                current = urljoin(current, location)
                continue
            dead = f"HTTP {status}" if status >= 400 else None
            return Outcome(url, current, status, tuple(hosts), dead=dead)
        why = f"more than {self._limits.max_redirects} redirects"
        return Outcome(url, current, None, tuple(hosts), dead=why)

    async def _check(self, url: str) -> Target:
        pinned = self._pinned
        if pinned is not None and pinned(host_of(url)) is not None:
            return check_url(url, self._resolve, self._allowed, pinned)
        # Resolving may block on the system resolver: off the event loop.
        return await asyncio.to_thread(check_url, url, self._resolve, self._allowed, pinned)

    async def _ask(self, target: Target) -> tuple[int, str | None]:
        status, location = await self._request("HEAD", target)
        if status >= 400:
            status, location = await self._request("GET", target)
        return status, location

    async def _request(self, method: str, target: Target) -> tuple[int, str | None]:
        parts = urlsplit(target.url)
        literal = f"[{target.address}]" if ":" in target.address else target.address
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = 443 if target.scheme == "https" else 80
        host = target.host if target.port == default_port else f"{target.host}:{target.port}"
        # The checked address is what we connect to (pinned: no second DNS
        # answer can differ); the name goes in Host and in TLS SNI.
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self._client.build_request(
            method,
            f"{target.scheme}://{literal}:{target.port}{path}",
            headers={"Host": host, "User-Agent": USER_AGENT, "Accept": "*/*"},
            extensions=extensions,
        )
        response = await self._client.send(request, stream=True)
        try:
            if method == "GET":
                # The page answers; its body is not ours to download in full.
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= self._limits.max_bytes:
                        break
            return response.status_code, response.headers.get("location")
        finally:
            await response.aclose()
