"""The address of the client behind a request, believing proxies only when trusted.

`X-Forwarded-For` is written by whoever sends the request; only a reverse
proxy we were told about (setting `trusted_proxies`) may speak for the
client. Each proxy appends the address it received from, so the list is
read from the right, skipping trusted hops, and the first untrusted address
is the client (the same rule as nginx's `real_ip_recursive on`).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

from starlette.requests import Request

from courriel.events.webhooks.ssrf import Network, parse_networks


def parse_proxies(values: Sequence[str]) -> tuple[Network, ...]:
    """The `trusted_proxies` setting as networks (a bare address is a /32 or /128)."""
    return _parse(tuple(values))


@functools.lru_cache(maxsize=8)
def _parse(values: tuple[str, ...]) -> tuple[Network, ...]:
    # The same spelling as the webhook allow-list setting, parsed the same way.
    return parse_networks(values)


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(request: Request, trusted_proxies: Sequence[Network]) -> str | None:
    """The client's address: the peer, or what trusted proxies say it was."""
    peer = request.client.host if request.client else None
    if peer is None or not trusted_proxies or not _trusted(peer, trusted_proxies):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            # A garbled entry: stop believing the chain here.
            return client
        client = hop
        if not _trusted(hop, trusted_proxies):
            return hop
    return client
