"""The SSRF guard of webhook URLs: only public addresses, unless explicitly allowed."""

from __future__ import annotations

import pytest

from courriel.core.errors import InvalidInputError
from courriel.events.webhooks.ssrf import Resolve, check_url, parse_networks


def _resolver(answers: dict[str, list[str]]) -> Resolve:
    def resolve(host: str, _port: int) -> list[str]:
        if host not in answers:
            raise OSError("NXDOMAIN")
        return answers[host]

    return resolve


PUBLIC = _resolver(
    {
        "hooks.example": ["93.184.216.34"],
        "evil.example": ["127.0.0.1"],
        "mixed.example": ["93.184.216.34", "10.1.2.3"],
        "mapped.example": ["::ffff:127.0.0.1"],
    }
)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.0.0.1:8025/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://127.1/",
        "http://0.0.0.0/",
        "http://evil.example/hook",
        "http://mixed.example/hook",
        "http://mapped.example/hook",
    ],
)
def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(InvalidInputError) as exc:
        check_url(url, PUBLIC)
    assert exc.value.field == "url"


def test_a_name_the_system_resolves_to_loopback_is_refused() -> None:
    # `localhost` goes through the real resolver (/etc/hosts): 127.0.0.1 / ::1.
    with pytest.raises(InvalidInputError, match="refused"):
        check_url("http://localhost:8025/hook")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://hooks.example/", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("http:///nohost", "names no host"),
        ("http://user:pw@hooks.example/", "credentials"),
        ("http://unknown.example/", "does not resolve"),
        ("http://hooks.example:99999/", "not a valid URL"),
        ("https://hooks.example/" + "a" * 2100, "longer than"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(url: str, why: str) -> None:
    with pytest.raises(InvalidInputError, match=why):
        check_url(url, PUBLIC)


def test_public_addresses_pass_and_are_pinned() -> None:
    target = check_url("https://hooks.example/in?x=1", PUBLIC)
    assert (target.host, target.port, target.address) == ("hooks.example", 443, "93.184.216.34")
    assert check_url("http://93.184.216.34:8080/", PUBLIC).port == 8080


def test_the_allow_list_admits_only_the_networks_it_names() -> None:
    allowed = parse_networks(["127.0.0.1/32", "10.9.0.0/16"])
    assert check_url("http://127.0.0.1:9000/", PUBLIC, allowed).address == "127.0.0.1"
    assert check_url("http://10.9.3.4/", PUBLIC, allowed).address == "10.9.3.4"
    for url in ("http://127.0.0.2/", "http://10.8.0.1/", "http://169.254.169.254/"):
        with pytest.raises(InvalidInputError):
            check_url(url, PUBLIC, allowed)


# Issue 18 item 6: IPv6 forms that carry an IPv4 address inside. `::127.0.0.1`
# is the IPv4-compatible spelling of loopback; 6to4 (2002:V4::), NAT64
# (64:ff9b::V4, 64:ff9b:1::/48), Teredo (2001:0::, client address inverted)
# and the IPv4-translated form (::ffff:0:V4) all reach IPv4 space.
@pytest.mark.parametrize(
    "url",
    [
        "http://[::127.0.0.1]/",
        "http://[::10.0.0.1]/",
        "http://[::169.254.169.254]/latest/meta-data/",
        "http://[::7f00:1]/",
        "http://[::93.184.216.34]/",
        "http://[::ffff:93.184.216.34]/",
        "http://[::ffff:0:7f00:1]/",
        "http://[::ffff:0:a9fe:a9fe]/",
        "http://[2002:7f00:1::1]/",
        "http://[2002:a9fe:a9fe::]/",
        "http://[64:ff9b::127.0.0.1]/",
        "http://[64:ff9b::10.0.0.1]/",
        "http://[64:ff9b:1::a00:1]/",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
        "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",
    ],
)
def test_ipv6_literals_carrying_an_ipv4_address_are_refused(url: str) -> None:
    with pytest.raises(InvalidInputError, match="refused") as exc:
        check_url(url, PUBLIC)
    assert exc.value.field == "url"


def test_a_name_resolving_to_an_ipv4_compatible_address_is_refused() -> None:
    resolve = _resolver(
        {"compat.example": ["::127.0.0.1"], "nat64.example": ["64:ff9b::a9fe:a9fe"]}
    )
    for url in ("http://compat.example/", "http://nat64.example/"):
        with pytest.raises(InvalidInputError, match="refused"):
            check_url(url, resolve)


def test_an_allow_listed_ipv4_network_does_not_admit_its_ipv6_spellings() -> None:
    allowed = parse_networks(["127.0.0.1/32"])
    for url in ("http://[::127.0.0.1]/", "http://[::ffff:127.0.0.1]/", "http://[2002:7f00:1::]/"):
        with pytest.raises(InvalidInputError):
            check_url(url, PUBLIC, allowed)


def test_public_ipv6_addresses_still_pass() -> None:
    assert check_url("http://[2606:4700::1111]/", PUBLIC).address == "2606:4700::1111"
