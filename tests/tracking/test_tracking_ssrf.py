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
