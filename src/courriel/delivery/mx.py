"""MX resolution: which hosts receive mail for a domain, in which order.

`MxResolver` is the contract the worker depends on. `DnsMxResolver` asks the
DNS and caches answers for their TTL; `StaticMxResolver` answers from a fixed
table (the sandbox internet's zone file, or pinned hosts in tests).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.resolver
import idna

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from pathlib import Path

MxErrorKind = Literal["null-mx", "nxdomain", "no-address", "temporary"]


@dataclass(frozen=True)
class MxHost:
    """One mail exchanger. ``address``/``port`` are filled by static tables only."""

    name: str
    preference: int
    address: str | None = None
    port: int = 25


@dataclass(frozen=True)
class MxResult:
    """The mail exchangers of ``domain`` in the order they must be tried."""

    domain: str
    hosts: tuple[MxHost, ...]

    @property
    def lane_key(self) -> str:
        """Name the MX host *set*, so every domain hosted by one provider shares a lane."""
        return ",".join(sorted({host.name.lower().rstrip(".") for host in self.hosts}))


class MxError(Exception):
    """The domain cannot be routed to; ``kind`` says whether for good.

    ``null-mx`` (RFC 7505), ``nxdomain`` and ``no-address`` (neither MX nor
    address records, RFC 5321 §5.1) are permanent; ``temporary`` (SERVFAIL,
    timeouts, unreachable name servers) is worth a retry.
    """

    def __init__(self, kind: MxErrorKind, message: str, *, ttl: float | None = None) -> None:
        super().__init__(message)
        self.kind: MxErrorKind = kind
        # How long the DNS says this answer holds (RFC 2308 negative TTL), if known.
        self.ttl = ttl


class MxResolver(Protocol):
    """Find the mail exchangers of a domain."""

    async def resolve(self, domain: str) -> MxResult:
        """Return the hosts that receive mail for ``domain``, in the order to try them.

        ``domain`` may be in any case, with or without a final dot, and may be
        an internationalized name (it is looked up in its IDNA form, which is
        also the ``MxResult.domain``). Hosts come in ascending preference;
        hosts of equal preference in a random order, so load spreads as
        RFC 5321 §5.1 requires. A domain without MX records but with an
        address record yields itself as the only host, preference 0 (the
        implicit MX of RFC 5321 §5.1).

        Raises `MxError` when there is no host to try: ``null-mx`` when the
        domain publishes the null MX of RFC 7505, ``nxdomain`` when it does
        not exist (or is not a valid domain name), ``no-address`` when it
        has neither MX nor address records, ``temporary`` when the answer
        could not be obtained.
        """
        ...


def normalize_domain(domain: str) -> str:
    """Return ``domain`` lower-cased, without final dot, in IDNA (punycode) form.

    Raises `MxError` (``nxdomain``) for a string that cannot be a domain name.
    """
    name = domain.strip().rstrip(".").lower()
    try:
        if not name.isascii():
            # UTS #46 mapping first, as browsers and MTAs do, then IDNA 2008.
            name = idna.encode(name, uts46=True).decode("ascii")
        dns.name.from_text(name)  # Label and name length limits (RFC 1035 §2.3.4).
    except (idna.IDNAError, dns.exception.SyntaxError) as exc:
        raise MxError("nxdomain", f"{domain!r} is not a valid domain name") from exc
    if not name:
        raise MxError("nxdomain", "the empty string is not a domain name")
    return name


def order_hosts(hosts: Iterable[MxHost], rng: random.Random | None = None) -> tuple[MxHost, ...]:
    """Sort by preference, shuffling hosts of equal preference (RFC 5321 §5.1)."""
    pick = rng or random
    keyed = [(host.preference, pick.random(), host) for host in hosts]
    keyed.sort(key=lambda item: (item[0], item[1]))
    return tuple(host for _, _, host in keyed)


@dataclass(frozen=True)
class _Entry:
    expires_at: float
    hosts: tuple[MxHost, ...] = ()
    error: MxError | None = None


class DnsMxResolver:
    """Resolve MX records over DNS, caching each answer for its TTL.

    TTLs are clamped to ``[min_ttl, max_ttl]``: a TTL of zero would mean one
    query per message, a week-long TTL would keep a provider's move from us.
    Negative answers (no such domain, null MX, no data) are cached for the
    SOA-derived negative TTL of RFC 2308 §5, at most ``negative_ttl``; failures
    to get an answer for ``failure_ttl`` (RFC 2308 §7 allows up to five
    minutes), so a broken domain with a thousand queued messages costs one
    lookup, not a thousand.
    """

    def __init__(
        self,
        resolver: dns.asyncresolver.Resolver | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        min_ttl: float = 60.0,
        max_ttl: float = 3600.0,
        negative_ttl: float = 300.0,
        failure_ttl: float = 30.0,
        max_entries: int = 10_000,
    ) -> None:
        # Made on first use: reading /etc/resolv.conf should not be the price of
        # constructing a resolver that the sandbox may never ask.
        self._resolver = resolver
        self._clock = clock
        self._rng = rng
        self._min_ttl = min_ttl
        self._max_ttl = max_ttl
        self._negative_ttl = negative_ttl
        self._failure_ttl = failure_ttl
        self._max_entries = max_entries
        self._cache: dict[str, _Entry] = {}

    async def resolve(self, domain: str) -> MxResult:
        """See `MxResolver`."""
        name = normalize_domain(domain)
        entry = self._cache.get(name)
        if entry is None or entry.expires_at <= self._clock():
            entry = await self._lookup(name)
            self._store(name, entry)
        if entry.error is not None:
            raise entry.error
        # Shuffle on every call, not once per cache entry, so equal-preference
        # hosts share the load for the whole life of the entry.
        return MxResult(name, order_hosts(entry.hosts, self._rng))

    async def _lookup(self, name: str) -> _Entry:
        try:
            hosts, ttl = await self._lookup_mx(name)
        except MxError as exc:
            if exc.kind == "temporary":
                return _Entry(self._clock() + self._failure_ttl, error=exc)
            ttl = self._negative_ttl if exc.ttl is None else exc.ttl
            return _Entry(self._clock() + min(max(ttl, 0.0), self._negative_ttl), error=exc)
        return _Entry(self._clock() + min(max(ttl, self._min_ttl), self._max_ttl), hosts)

    async def _lookup_mx(self, name: str) -> tuple[tuple[MxHost, ...], float]:
        answer = await self._query(name, dns.rdatatype.MX)
        ttl = answer.chaining_result.minimum_ttl
        if answer.rrset is None:
            return await self._implicit_mx(name, ttl)
        # RFC 7505 §3: a null MX is one record, preference 0, exchange ".". A
        # "." among real exchangers is broken and simply not a host to try.
        hosts = tuple(
            MxHost(rr.exchange.to_text(omit_final_dot=True).lower(), int(rr.preference))
            for rr in answer
            if rr.exchange != dns.name.root
        )
        if not hosts:
            raise MxError("null-mx", f"{name} publishes a null MX: it accepts no mail", ttl=ttl)
        return hosts, ttl

    async def _implicit_mx(self, name: str, ttl: float) -> tuple[tuple[MxHost, ...], float]:
        # RFC 5321 §5.1: no MX records, so the domain itself is the exchanger,
        # if it has an address. Either family will do; the connect picks one.
        for rdtype in (dns.rdatatype.AAAA, dns.rdatatype.A):
            answer = await self._query(name, rdtype)
            ttl = min(ttl, answer.chaining_result.minimum_ttl)
            if answer.rrset is not None:
                return (MxHost(name, 0),), ttl
        raise MxError("no-address", f"{name} has neither MX nor address records", ttl=ttl)

    async def _query(self, name: str, rdtype: dns.rdatatype.RdataType) -> dns.resolver.Answer:
        qname = dns.name.from_text(name)
        try:
            if self._resolver is None:
                self._resolver = dns.asyncresolver.Resolver()
            return await self._resolver.resolve(qname, rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN as exc:
            ttl = _nxdomain_ttl(exc, qname)
            raise MxError("nxdomain", f"{name} does not exist", ttl=ttl) from exc
        except dns.resolver.YXDOMAIN as exc:
            raise MxError("nxdomain", f"{name} cannot be resolved (YXDOMAIN)") from exc
        except dns.exception.Timeout as exc:
            raise MxError("temporary", f"DNS timeout resolving {name}") from exc
        except dns.exception.DNSException as exc:
            # NoNameservers (every server said SERVFAIL or REFUSED) and the rest.
            raise MxError("temporary", f"DNS failure resolving {name}: {exc}") from exc

    def _store(self, name: str, entry: _Entry) -> None:
        if len(self._cache) >= self._max_entries:
            now = self._clock()
            self._cache = {d: e for d, e in self._cache.items() if e.expires_at > now}
            while len(self._cache) >= self._max_entries:
                del self._cache[next(iter(self._cache))]  # Oldest insertion first.
        self._cache[name] = entry


def _nxdomain_ttl(exc: dns.resolver.NXDOMAIN, qname: dns.name.Name) -> float | None:
    # RFC 2308 §5: the negative TTL is the lesser of the SOA's TTL and its
    # MINIMUM field; dnspython computes it when resolving the response.
    response = exc.kwargs.get("responses", {}).get(qname)
    if not isinstance(response, dns.message.QueryMessage):
        return None
    try:
        return float(response.resolve_chaining().minimum_ttl)
    except dns.exception.DNSException:
        return None


class StaticMxResolver:
    """Answer from a fixed table: the sandbox internet, or pinned hosts in tests.

    ``domains`` maps a domain to its ``(exchanger, preference)`` pairs (an
    exchanger ``"."`` alone is a null MX; no pairs at all is a domain without
    MX records, which has mail only through an ``A``/``AAAA`` record of
    ``records``); ``hosts`` maps an exchanger to the
    ``(address, port)`` to connect to. Domains not in the table go to
    ``fallback``, or do not exist.
    """

    def __init__(
        self,
        domains: Mapping[str, Sequence[tuple[str, int]]],
        hosts: Mapping[str, tuple[str, int]],
        fallback: MxResolver | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._fallback = fallback
        self._rng = rng
        self._zone_file: Path | None = None
        self._zone_stamp: tuple[int, int, int] | None = None
        self._records: dict[str, dict[str, list[str]]] = {}
        self._signed: tuple[str, ...] = ()
        self._load(domains, hosts)

    @classmethod
    def from_zone_file(cls, path: Path, fallback: MxResolver | None = None) -> StaticMxResolver:
        """Answer from the sandbox's zone file, re-read whenever it changes.

        The sandbox may restart on new ports at any time, hence the re-read.
        The format, written by `courriel.sandbox`, is::

            {"domains": {"gmail.test": [["mx.google.test", 10]]},
             "hosts": {"mx.google.test": ["127.0.0.1", 40123]}}
        """
        resolver = cls({}, {}, fallback)
        resolver._zone_file = path
        resolver._reload_if_changed()
        return resolver

    async def resolve(self, domain: str) -> MxResult:
        """See `MxResolver`."""
        self._reload_if_changed()
        name = normalize_domain(domain)
        records = self._domains.get(name)
        if records is None:
            if self._fallback is not None:
                return await self._fallback.resolve(domain)
            raise MxError("nxdomain", f"{name} is not in the static MX table")
        if not records:
            # No MX records: RFC 5321 §5.1's implicit MX, when the table gives
            # the domain an address record (or a host entry).
            if name in self._hosts or any(
                self._records.get(name, {}).get(rdtype) for rdtype in ("A", "AAAA")
            ):
                return MxResult(name, (self._host(name, 0),))
            raise MxError("no-address", f"{name} has neither MX nor address records")
        hosts = [self._host(exchange, preference) for exchange, preference in records]
        usable = [host for host in hosts if host.name]
        if not usable:
            raise MxError("null-mx", f"{name} publishes a null MX: it accepts no mail")
        return MxResult(name, order_hosts(usable, self._rng))

    def knows(self, domain: str) -> bool:
        """Whether the table answers for `domain` itself (rather than the fallback)."""
        self._reload_if_changed()
        try:
            return normalize_domain(domain) in self._domains
        except MxError:
            return False

    def _load(
        self,
        domains: Mapping[str, Sequence[tuple[str, int]]],
        hosts: Mapping[str, tuple[str, int]],
    ) -> None:
        self._domains = {normalize_domain(d): tuple(mx) for d, mx in domains.items()}
        self._hosts = {name.lower().rstrip("."): target for name, target in hosts.items()}

    def set_records(
        self, records: Mapping[str, Mapping[str, list[str]]], signed: Sequence[str]
    ) -> None:
        """Other records of the table (TXT, TLSA…: name → type → values) and the
        names at or under which answers count as DNSSEC-validated."""
        self._records = {n: dict(rr) for n, rr in records.items()}
        self._signed = tuple(signed)

    def records(self, name: str, rdtype: str) -> tuple[list[str], bool] | None:
        """The values of `rdtype` at `name` and whether they are signed; None when
        the name is outside the table (ask the fallback)."""
        self._reload_if_changed()
        name = name.lower().rstrip(".")
        if not self._owns(name):
            return None
        signed = any(name == s or name.endswith("." + s) for s in self._signed)
        return list(self._records.get(name, {}).get(rdtype.upper(), [])), signed

    def address_of(self, host: str) -> tuple[str, int] | None:
        """The (address, port) the table gives `host`, if any."""
        self._reload_if_changed()
        return self._hosts.get(host.lower().rstrip("."))

    def _owns(self, name: str) -> bool:
        known = (*self._domains, *self._hosts, *self._records)
        return any(name == k or name.endswith("." + k) for k in known)

    def _host(self, exchange: str, preference: int) -> MxHost:
        name = exchange.lower().rstrip(".")
        target = self._hosts.get(name)
        if target is None:
            return MxHost(name, preference)
        address, port = target
        return MxHost(name, preference, address=address, port=port)

    def _reload_if_changed(self) -> None:
        if self._zone_file is None:
            return
        try:
            stat = self._zone_file.stat()
        except FileNotFoundError:
            # The sandbox is not running (yet): nothing is routable through it.
            self._zone_stamp = None
            self._load({}, {})
            return
        # The inode too: the sandbox renames a new file into place, and two
        # writes within the file system's mtime granularity look alike.
        stamp = (stat.st_mtime_ns, stat.st_ino, stat.st_size)
        if stamp == self._zone_stamp:
            return
        try:
            zone = json.loads(self._zone_file.read_text(encoding="utf-8"))
            domains = {d: [(str(h), int(p)) for h, p in mx] for d, mx in zone["domains"].items()}
            hosts = {h: (str(a), int(p)) for h, (a, p) in zone["hosts"].items()}
            records = {
                str(name).lower().rstrip("."): {
                    str(t).upper(): [str(v) for v in vs] for t, vs in rr.items()
                }
                for name, rr in zone.get("records", {}).items()
            }
            signed = tuple(str(n).lower().rstrip(".") for n in zone.get("signed", []))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            # Caught mid-write: keep the previous table and read again next time.
            return
        self._load(domains, hosts)
        self.set_records(records, signed)
        self._zone_stamp = stamp
