"""The SPF evaluator behind the bulk-sender rules (RFC 7208): includes, redirect, a and mx,
the ten-lookup limit, two records, mechanisms it does not evaluate."""

from __future__ import annotations

import pytest

from courriel.policy.spf import authorizes


class Zone:
    """DNS values by (name, type); a name listed in `broken` fails to resolve."""

    def __init__(
        self, values: dict[tuple[str, str], list[str]], broken: frozenset[str] = frozenset()
    ) -> None:
        self.values = values
        self.broken = broken

    def records(self, name: str, rdtype: str) -> list[str] | None:
        if name in self.broken:
            return None
        return self.values.get((name, rdtype), [])


IP = "192.0.2.10"


@pytest.mark.parametrize(
    ("txt", "extra", "verdict"),
    [
        ("v=spf1 ip4:192.0.2.0/24 -all", {}, "pass"),
        ("v=spf1 -ip4:192.0.2.10 +all", {}, "fail"),
        ("v=spf1 ip6:2001:db8::/32 ~all", {}, "fail"),
        (
            "v=spf1 include:_spf.esp.test ~all",
            {("_spf.esp.test", "TXT"): [f"v=spf1 ip4:{IP} -all"]},
            "pass",
        ),
        (
            "v=spf1 redirect=_spf.esp.test",
            {("_spf.esp.test", "TXT"): [f"v=spf1 ip4:{IP} -all"]},
            "pass",
        ),
        ("v=spf1 a:mta.esp.test -all", {("mta.esp.test", "A"): [IP]}, "pass"),
        (
            "v=spf1 mx -all",
            {("shop.test", "MX"): ["mx.shop.test"], ("mx.shop.test", "A"): [IP]},
            "pass",
        ),
        ("v=spf1 include:nothing.test -all", {}, "fail"),
        ("v=spf1 exists:%{i}.esp.test -all", {}, "unknown"),
        ("v=spf1 ip4:300.1.1.1 -all", {}, "fail"),
    ],
)
def test_records_are_evaluated(
    txt: str, extra: dict[tuple[str, str], list[str]], verdict: str
) -> None:
    zone = Zone({("shop.test", "TXT"): ["other text", txt], **extra})
    assert authorizes(zone, "shop.test", IP).verdict == verdict


def test_more_than_ten_lookups_is_a_permanent_error() -> None:
    chain = {(f"l{i}.test", "TXT"): [f"v=spf1 include:l{i + 1}.test -all"] for i in range(12)}
    zone = Zone({("shop.test", "TXT"): ["v=spf1 include:l0.test -all"], **chain})
    result = authorizes(zone, "shop.test", IP)
    assert result.verdict == "fail"
    assert "10 DNS lookups" in result.detail


def test_two_records_and_no_record_and_a_failed_lookup() -> None:
    two = Zone({("shop.test", "TXT"): ["v=spf1 -all", "v=spf1 +all"]})
    assert "more than one SPF record" in authorizes(two, "shop.test", IP).detail
    assert (
        authorizes(Zone({}), "shop.test", IP).detail == "shop.test publishes no SPF record (v=spf1)"
    )
    failed = authorizes(Zone({}, frozenset({"shop.test"})), "shop.test", IP)
    assert (failed.verdict, failed.detail) == (
        "unknown",
        "the DNS lookup of shop.test failed; try again",
    )
