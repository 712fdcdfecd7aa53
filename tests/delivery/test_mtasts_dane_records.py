"""The MTA-STS record and policy grammar (RFC 8461 §3) and TLSA usability
(RFC 7672 §3.1): what counts as a policy, and what does not."""

from __future__ import annotations

import pytest

from courriel.delivery.dane import TlsaRecord
from courriel.delivery.mtasts import MAX_AGE_LIMIT, PolicyError, parse_policy, parse_record


def test_the_txt_record_gives_the_policy_id_only_when_it_is_alone_and_well_formed() -> None:
    assert parse_record(["v=STSv1; id=20160831085700Z;"]) == "20160831085700Z"
    assert parse_record(["unrelated", "v=STSv1; id=abc"]) == "abc"
    assert parse_record(["v=STSv1; id=a", "v=STSv1; id=b"]) is None  # two records: none
    assert parse_record(["v=STSv1; id=not-alnum!"]) is None
    assert parse_record(["v=STSv1;"]) is None
    assert parse_record([]) is None


def test_a_policy_names_its_hosts_and_wildcards_match_one_label() -> None:
    policy = parse_policy(
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\n"
        "max_age: 999999999\n",
        "id1",
    )
    assert policy.mode == "enforce"
    assert policy.max_age == MAX_AGE_LIMIT
    assert policy.allows("MAIL.example.com.")
    assert policy.allows("mx1.example.net")
    assert not policy.allows("a.b.example.net")
    assert not policy.allows("example.net")
    assert not policy.allows("evil-example.com")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n", "version"),
        ("version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n", "mode"),
        ("version: STSv1\nmode: enforce\nmax_age: 1\n", "mx"),
        ("version: STSv1\nmode: enforce\nmx: a.test\n", "max_age"),
        ("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -5\n", "max_age"),
    ],
)
def test_a_malformed_policy_is_no_policy(text: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=problem):
        parse_policy(text, "id")


def test_only_dane_ta_and_dane_ee_records_are_usable_for_smtp() -> None:
    assert TlsaRecord.parse("3 1 1 ab").usable
    assert TlsaRecord.parse("2 0 1 ab").usable
    assert not TlsaRecord.parse("1 1 1 ab").usable  # PKIX-EE: not for SMTP
    assert not TlsaRecord.parse("3 2 1 ab").usable  # unknown selector
    assert not TlsaRecord.parse("3 1 7 ab").usable  # unknown matching type
