"""MX resolution against a real (tiny, authoritative) DNS server on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import dns.asyncresolver
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from courriel.delivery.mx import (
    DnsMxResolver,
    MxError,
    MxHost,
    MxResolver,
    MxResult,
    StaticMxResolver,
)
from tests.support.dns import DnsServer

ZONE = """
$TTL 600
@               SOA   ns.test. hostmaster.test. 1 3600 600 86400 120
@               NS    ns.test.
ns              A     127.0.0.1
mail            MX    20 mx2.mail.test.
mail            MX    10 mx1.mail.test.
mx1.mail        A     192.0.2.1
mx2.mail        A     192.0.2.2
nullmx          MX    0 .
implicit        A     192.0.2.10
noaddress       TXT   "no mail here"
xn--bcher-kva   MX    5 mx.bucher.test.
"""


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


Scenario = Callable[[DnsMxResolver, DnsServer, FakeClock], Awaitable[None]]


def run_with_dns(scenario: Scenario, *, servfail: frozenset[str] = frozenset()) -> None:
    async def main() -> None:
        zone = dns.zone.from_text(ZONE, origin="test.", relativize=False)
        loop = asyncio.get_running_loop()
        transport, server = await loop.create_datagram_endpoint(
            lambda: DnsServer(zone, set(servfail)), local_addr=("127.0.0.1", 0)
        )
        try:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = ["127.0.0.1"]
            resolver.port = transport.get_extra_info("sockname")[1]
            resolver.lifetime = 2.0
            clock = FakeClock()
            await scenario(DnsMxResolver(resolver, clock=clock), server, clock)
        finally:
            transport.close()

    asyncio.run(main())


async def resolve_error(resolver: MxResolver, domain: str) -> MxError:
    with pytest.raises(MxError) as caught:
        await resolver.resolve(domain)
    return caught.value


def test_mx_records_come_in_preference_order() -> None:
    async def scenario(resolver: DnsMxResolver, server: DnsServer, clock: FakeClock) -> None:
        result = await resolver.resolve("Mail.Test.")
        assert result == MxResult(
            "mail.test", (MxHost("mx1.mail.test", 10), MxHost("mx2.mail.test", 20))
        )
        assert result.lane_key == "mx1.mail.test,mx2.mail.test"

    run_with_dns(scenario)


def test_answers_are_cached_for_their_ttl() -> None:
    async def scenario(resolver: DnsMxResolver, server: DnsServer, clock: FakeClock) -> None:
        await resolver.resolve("mail.test")
        clock.now += 599
        await resolver.resolve("mail.test")
        assert server.count("mail.test") == 1
        clock.now += 2  # Past the record's 600 s TTL.
        await resolver.resolve("mail.test")
        assert server.count("mail.test") == 2

    run_with_dns(scenario)


def test_null_mx_is_a_permanent_error() -> None:
    async def scenario(resolver: DnsMxResolver, server: DnsServer, clock: FakeClock) -> None:
        error = await resolve_error(resolver, "nullmx.test")
        assert error.kind == "null-mx"

    run_with_dns(scenario)


def test_domain_without_mx_uses_its_address_as_implicit_mx() -> None:
    async def scenario(resolver: DnsMxResolver, server: DnsServer, clock: FakeClock) -> None:
        result = await resolver.resolve("implicit.test")
        assert result.hosts == (MxHost("implicit.test", 0),)

    run_with_dns(scenario)


def test_domain_without_mx_or_address_has_no_address() -> None:
    async def scenario(resolver: DnsMxResolver, server: DnsServer, clock: FakeClock) -> None:
        error = await resolve_error(resolver, "noaddress.test")
        assert error.kind == "no-address"

    run_with_dns(scenario)


def test_nxdomain_is_cached_for_the_negative_ttl() -> None:
    async def scenario(resolver: DnsMxResolver, server: DnsServer, clock: FakeClock) -> None:
        first = await resolve_error(resolver, "nowhere.test")
        assert first.kind == "nxdomain"
        # RFC 2308 §5: min(SOA TTL 600, SOA MINIMUM 120) = 120 seconds.
        assert first.ttl == 120
        clock.now += 119
        assert (await resolve_error(resolver, "nowhere.test")).kind == "nxdomain"
        assert server.count("nowhere.test") == 1
        clock.now += 2
        await resolve_error(resolver, "nowhere.test")
        assert server.count("nowhere.test") == 2

    run_with_dns(scenario)


def test_servfail_is_temporary_and_cached_briefly() -> None:
    async def scenario(resolver: DnsMxResolver, server: DnsServer, clock: FakeClock) -> None:
        assert (await resolve_error(resolver, "broken.test")).kind == "temporary"
        await resolve_error(resolver, "broken.test")
        assert server.count("broken.test") == 1
        clock.now += 31
        await resolve_error(resolver, "broken.test")
        assert server.count("broken.test") == 2

    run_with_dns(scenario, servfail=frozenset({"broken.test"}))


def test_idn_domain_is_looked_up_in_punycode() -> None:
    async def scenario(resolver: DnsMxResolver, server: DnsServer, clock: FakeClock) -> None:
        result = await resolver.resolve("Bücher.test")
        assert result.domain == "xn--bcher-kva.test"
        assert result.hosts == (MxHost("mx.bucher.test", 5),)

    run_with_dns(scenario)


def test_invalid_domain_name_does_not_exist() -> None:
    async def scenario(resolver: DnsMxResolver, server: DnsServer, clock: FakeClock) -> None:
        assert (await resolve_error(resolver, "a..b.test")).kind == "nxdomain"
        assert (await resolve_error(resolver, "x" * 64 + ".test")).kind == "nxdomain"
        assert server.queries == []

    run_with_dns(scenario)


def test_unreachable_name_server_is_temporary() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        # A socket that never answers.
        silent, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        try:
            dns_resolver = dns.asyncresolver.Resolver(configure=False)
            dns_resolver.nameservers = ["127.0.0.1"]
            dns_resolver.port = silent.get_extra_info("sockname")[1]
            dns_resolver.lifetime = 0.2
            error = await resolve_error(DnsMxResolver(dns_resolver), "mail.test")
            assert error.kind == "temporary"
        finally:
            silent.close()

    asyncio.run(main())


def test_static_resolver_fills_addresses_and_ports() -> None:
    resolver = StaticMxResolver(
        {"Gmail.test": [("mx.google.test", 10)], "googlemail.test": [("MX.Google.test.", 5)]},
        {"mx.google.test": ("127.0.0.1", 40123)},
    )
    gmail = asyncio.run(resolver.resolve("gmail.TEST"))
    assert gmail.hosts == (MxHost("mx.google.test", 10, "127.0.0.1", 40123),)
    # One provider, one lane, whatever the domain.
    assert asyncio.run(resolver.resolve("googlemail.test")).lane_key == gmail.lane_key


def test_static_resolver_unknown_domain_and_null_mx() -> None:
    resolver = StaticMxResolver({"nullmx.test": [(".", 0)]}, {})
    assert asyncio.run(resolve_error(resolver, "unknown.test")).kind == "nxdomain"
    assert asyncio.run(resolve_error(resolver, "nullmx.test")).kind == "null-mx"


def test_static_resolver_falls_back() -> None:
    fallback = StaticMxResolver({"elsewhere.test": [("mx.elsewhere.test", 1)]}, {})
    resolver = StaticMxResolver({}, {}, fallback)
    result = asyncio.run(resolver.resolve("elsewhere.test"))
    assert result.hosts == (MxHost("mx.elsewhere.test", 1),)


def test_equal_preferences_are_shuffled() -> None:
    hosts = [("a.mx.test", 10), ("b.mx.test", 10), ("c.mx.test", 20)]
    resolver = StaticMxResolver({"spread.test": hosts}, {}, rng=random.Random(7))
    orders = {
        tuple(h.name for h in asyncio.run(resolver.resolve("spread.test")).hosts) for _ in range(40)
    }
    assert orders == {
        ("a.mx.test", "b.mx.test", "c.mx.test"),
        ("b.mx.test", "a.mx.test", "c.mx.test"),
    }


def write_zone(path: Path, port: int, mtime_ns: int) -> None:
    zone = {
        "domains": {"gmail.test": [["mx.google.test", 10]]},
        "hosts": {"mx.google.test": ["127.0.0.1", port]},
    }
    path.write_text(json.dumps(zone), encoding="utf-8")
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_zone_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "zone.json"
    write_zone(path, 40123, 1_000_000_000)
    resolver = StaticMxResolver.from_zone_file(path)
    assert asyncio.run(resolver.resolve("gmail.test")).hosts[0].port == 40123

    # The sandbox restarted on another port.
    write_zone(path, 40999, 2_000_000_000)
    assert asyncio.run(resolver.resolve("gmail.test")).hosts[0].port == 40999

    # Renamed into place, as the sandbox does, with the very same mtime.
    replacement = tmp_path / "zone.json.new"
    write_zone(replacement, 41000, 2_000_000_000)
    replacement.replace(path)
    assert asyncio.run(resolver.resolve("gmail.test")).hosts[0].port == 41000

    # A half-written file keeps the last good table.
    path.write_text('{"domains": {', encoding="utf-8")
    os.utime(path, ns=(3_000_000_000, 3_000_000_000))
    assert asyncio.run(resolver.resolve("gmail.test")).hosts[0].port == 41000


def test_missing_zone_file_routes_nothing(tmp_path: Path) -> None:
    resolver = StaticMxResolver.from_zone_file(tmp_path / "absent.json")
    assert asyncio.run(resolve_error(resolver, "gmail.test")).kind == "nxdomain"
