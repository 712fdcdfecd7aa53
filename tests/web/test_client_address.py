"""X-Forwarded-For is believed only from trusted proxies."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from courriel.config import Settings
from courriel.web.client import client_address, parse_proxies


def _request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "client": (peer, 40000), "headers": headers})


PROXIES = parse_proxies(["10.0.0.0/8", "::1"])


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address(_request("127.0.0.1", "198.51.100.7"), ()) == "127.0.0.1"


def test_an_untrusted_peer_cannot_speak_for_anyone() -> None:
    assert client_address(_request("203.0.113.5", "198.51.100.7"), PROXIES) == "203.0.113.5"


def test_the_first_untrusted_hop_from_the_right_is_the_client() -> None:
    # The client forged the leftmost entry; our proxies appended the rest.
    request = _request("10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.9")
    assert client_address(request, PROXIES) == "198.51.100.7"
    request = _request("::1", "1.2.3.4", "198.51.100.8")
    assert client_address(request, PROXIES) == "198.51.100.8"


def test_a_garbled_entry_stops_the_chain() -> None:
    request = _request("10.0.0.2", "198.51.100.7, not-an-ip")
    assert client_address(request, PROXIES) == "10.0.0.2"


def test_a_wrong_network_in_the_setting_is_named() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not a network"):
        Settings(trusted_proxies=["10.0.0.0/33"])
