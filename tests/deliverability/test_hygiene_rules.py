"""The rules under list hygiene: typos, the disposable list, role names, DNS verdicts."""

from __future__ import annotations

from pathlib import Path

import dns.asyncresolver
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from courriel.audience.hygiene.disposable import is_disposable, parse_domains
from courriel.audience.hygiene.maildomains import DomainVerdict, MailDomains
from courriel.audience.hygiene.typos import suggest_domain
from courriel.core.addresses import is_role_address
from courriel.core.errors import InvalidInputError
from courriel.delivery.mx import DnsMxResolver
from courriel.sandbox.zone import Zone, read_zone, write_zone
from tests.support.dns import DnsThread, make_zone


@pytest.mark.parametrize(
    ("domain", "meant"),
    [
        ("gmial.com", "gmail.com"),
        ("gnail.com", "gmail.com"),
        ("gmail.co", "gmail.com"),
        ("gmail.comm", "gmail.com"),
        ("hotmial.com", "hotmail.com"),
        ("yahooo.fr", "yahoo.fr"),
        ("wanado.fr", "wanadoo.fr"),
        ("ornage.fr", "orange.fr"),
        ("laposte.nte", None),
        # Real domains, not slips: a provider's other countries, short names, others.
        ("hotmail.de", None),
        ("outlook.de", None),
        ("gmail.com", None),
        ("mr.com", None),
        ("example.test", None),
        ("acme.org", None),
    ],
)
def test_likely_typos_of_common_providers_are_suggested(domain: str, meant: str | None) -> None:
    assert suggest_domain(domain) == meant


def test_role_addresses_are_told_from_people() -> None:
    roles = ["postmaster", "Abuse", "no-reply", "noreply+news", "mailer-daemon", "hostmaster"]
    for address in [f"{local}@x.fr" for local in [*roles, "webmaster", "admin"]]:
        assert is_role_address(address), address
    for address in ("ana@x.fr", "postmaster.jones@x.fr", "adminton@x.fr"):
        assert not is_role_address(address), address


def test_the_disposable_list_is_parsed_strictly_and_covers_subdomains() -> None:
    domains = parse_domains("# comment\nYopmail.com\n\nmailinator.com.  # trailing dot\n")
    assert domains == {"yopmail.com", "mailinator.com"}
    assert is_disposable("a.b.mailinator.com", domains)
    assert not is_disposable("notmailinator.com", domains)
    assert not is_disposable("com", domains)
    for bad, line in (("ok.example\nno_dots\n", 2), ("a..b.example\n", 1), ("<b>x.fr</b>", 1)):
        with pytest.raises(InvalidInputError, match=f"line {line} is not a domain"):
            parse_domains(bad)


def test_the_zone_file_keeps_records_and_mail_less_domains(tmp_path: Path) -> None:
    zone = Zone(
        domains={"nullmx.test": [(".", 0)], "webonly.test": []},
        hosts={},
        records={"webonly.test": {"A": ["192.0.2.1"]}},
    )
    path = tmp_path / "zone.json"
    write_zone(path, zone)
    assert read_zone(path) == zone
    # A zone written without records reads as before.
    write_zone(path, Zone(domains={"a.test": [("mx.a.test", 10)]}, hosts={}))
    assert "records" not in path.read_text()


def _dns_zone() -> dns.zone.Zone:
    zone = make_zone("hygiene.example-isp.net.", {})

    def add(name: str, rdtype: str, value: str) -> None:
        rdataset = zone.find_rdataset(
            dns.name.from_text(name), dns.rdatatype.from_text(rdtype), create=True
        )
        rdataset.add(
            dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), value), 300
        )

    add("mail.hygiene.example-isp.net.", "MX", "10 mx.hygiene.example-isp.net.")
    add("null.hygiene.example-isp.net.", "MX", "0 .")
    add("web.hygiene.example-isp.net.", "A", "192.0.2.7")
    add("bare.hygiene.example-isp.net.", "TXT", '"v=spf1 -all"')
    return zone


def _resolver(port: int) -> dns.asyncresolver.Resolver:
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.lifetime = 2
    return resolver


def test_dns_verdicts_are_cached_and_a_denying_resolver_is_doubted() -> None:
    with DnsThread(_dns_zone()) as server:
        domains = MailDomains(
            DnsMxResolver(_resolver(server.port)),
            probe="mail.hygiene.example-isp.net",
            concurrency=2,
        )
        names = [
            f"{label}.hygiene.example-isp.net" for label in ("mail", "null", "web", "bare", "gone")
        ]
        found = domains.check(names)
        assert {d: (v.verdict.value, v.reason) for d, v in found.items()} == {
            "mail.hygiene.example-isp.net": ("ok", ""),
            "web.hygiene.example-isp.net": ("ok", ""),
            "null.hygiene.example-isp.net": (
                "refused",
                "null.hygiene.example-isp.net publishes a null MX (RFC 7505): it accepts no mail",
            ),
            "bare.hygiene.example-isp.net": (
                "refused",
                "bare.hygiene.example-isp.net has no mail server (neither MX nor address records)",
            ),
            "gone.hygiene.example-isp.net": (
                "refused",
                "gone.hygiene.example-isp.net does not exist",
            ),
        }
        assert server.server is not None
        asked = len(server.server.queries)
        assert domains.check(names) == found
        assert len(server.server.queries) == asked  # all from the cache
        # A resolver that says "no such domain" even of the probe is not believed.
        doubting = MailDomains(
            DnsMxResolver(_resolver(server.port)), probe="gone.hygiene.example-isp.net"
        )
        verdict = doubting.check(["null.hygiene.example-isp.net"])["null.hygiene.example-isp.net"]
        assert verdict.verdict is DomainVerdict.SKIPPED
        # Switched off: nothing is asked, everything passes.
        off = MailDomains(DnsMxResolver(_resolver(server.port)), enabled=False)
        before = len(server.server.queries)
        assert (
            off.check(["null.hygiene.example-isp.net"])["null.hygiene.example-isp.net"].verdict
            is DomainVerdict.OK
        )
        assert len(server.server.queries) == before
