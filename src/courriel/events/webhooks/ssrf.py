"""Keeping webhooks from reaching inside our own network (SSRF).

A tenant chooses the URL we POST to, so a URL naming 127.0.0.1, the cloud
metadata service (169.254.169.254) or a private address would let them probe
or attack what sits behind our firewall. The guard runs when an endpoint is
saved and again before every send: the name is resolved, every address must
be public, and the request then goes to that checked address (pinned), so a
DNS answer that changes between the check and the connection (DNS
rebinding) cannot slip through. Redirects are never followed. Self-hosted
receivers on private networks are allowed only through an explicit
allow-list of networks in the settings.

The link checker (`courriel.policy.links`) uses the same guard for every hop
of a redirect chain. It passes `pinned`: the sandbox internet's zone file,
whose simulated hosts (on loopback) count as the internet only through it;
any other loopback or private address is refused as it is for webhooks.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from courriel.core.errors import InvalidInputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], list[str]]
# A host name to the (address, port) a resolver override pins it to, or None.
Pin = Callable[[str], "tuple[str, int] | None"]

# Not all of these are caught by `is_global` on every Python version; listed
# so the refusal does not depend on the standard library's tables.
_REFUSED: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT (RFC 6598)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata at .169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/3",
        "::/127",
        "::ffff:0:0/96",  # IPv4-mapped
        "64:ff9b::/96",  # NAT64 (would reach IPv4 space)
        "2002::/16",  # 6to4
        "fc00::/7",  # unique-local
        "fe80::/10",  # link-local
        "fec0::/10",
        "ff00::/8",
        "fd00:ec2::254/128",  # AWS metadata over IPv6
    )
)


@dataclass(frozen=True)
class Target:
    """A checked URL and the address to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


class UnresolvableError(InvalidInputError):
    """The URL's host has no address (DNS failure): a dead link, not a refused one."""


def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def parse_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """The allow-list setting as networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # inet_aton accepts the legacy spellings a URL parser or resolver may honour:
    # 2130706433, 0x7f000001, 017700000001, 127.1 — all of them 127.0.0.1.
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address carries inside, with the form's name.

    Each of these forms ends up at an IPv4 host: IPv4-compatible (`::a.b.c.d`,
    RFC 4291 §2.5.5.1, deprecated but still routed by some stacks to the IPv4
    address), IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated
    (`::ffff:0:a.b.c.d`, RFC 2765), 6to4 (`2002:V4::/48`, RFC 3056), NAT64
    (`64:ff9b::/96` RFC 6052 and the local-use `64:ff9b:1::/48` RFC 8215,
    last 32 bits) and Teredo (`2001::/32`, RFC 4380: server in bits 32-63,
    client inverted in the last 32 bits; the server is named here).
    """
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    forms: tuple[tuple[str, ipaddress.IPv4Address | None], ...] = (
        ("an IPv4-compatible address", low32 if address in _IPV4_COMPATIBLE else None),
        ("an IPv4-mapped address", address.ipv4_mapped),
        ("an IPv4-translated address", low32 if address in _IPV4_TRANSLATED else None),
        ("a 6to4 address", address.sixtofour),
        ("a NAT64 address", low32 if any(address in n for n in _NAT64) else None),
        ("a Teredo address", address.teredo[1] if address.teredo else None),
    )
    # `::` and `::1` sit in the IPv4-compatible range but are IPv6 themselves.
    if int(address) <= 1:
        return None
    return next(((form, inner) for form, inner in forms if inner is not None), None)


def refusal(address: IPAddress, allowed: Sequence[Network] = ()) -> str | None:
    """Why an address may not be called, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = embedded_ipv4(address)
        # The IPv4-compatible and IPv4-mapped spellings are never needed to
        # reach a webhook receiver (a public host is reached by its own IPv4
        # or IPv6 address), so they are refused whatever they carry; the
        # tunnelling forms are refused when what they carry is not public.
        # The allow-list admits none of them: allowing 127.0.0.1/32 does not
        # allow `::127.0.0.1`.
        if embedded is not None:
            form, inner = embedded
            if form in ("an IPv4-compatible address", "an IPv4-mapped address"):
                return f"{form} (carrying {inner})"
            if refusal(inner) is not None:
                return f"{form} carrying {inner}"
    if any(address in network for network in allowed if network.version == address.version):
        return None
    if any(address in network for network in _REFUSED if network.version == address.version):
        return "a loopback, private, link-local, shared or reserved address"
    if not address.is_global:
        return "not a public address"
    return None


def _addresses(host: str, port: int, resolve: Resolve) -> list[IPAddress]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(host, port)]
    except (OSError, UnicodeError, ValueError) as exc:
        raise UnresolvableError("url", f"host {host!r} does not resolve") from exc
    if not found:
        raise UnresolvableError("url", f"host {host!r} does not resolve")
    return found


def check_url(
    url: str,
    resolve: Resolve = system_resolve,
    allowed: Sequence[Network] = (),
    pinned: Pin | None = None,
) -> Target:
    """Resolve and check a webhook URL; raise InvalidInputError("url", why) when refused.

    `UnresolvableError` (an InvalidInputError) when the host has no address.
    A host that `pinned` answers for goes to the (address, port) it gives,
    unchecked: that override is the operator's own (the sandbox's zone file).
    """
    if len(url) > 2048:
        raise InvalidInputError("url", "is longer than 2048 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInputError("url", "is not a valid URL") from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidInputError("url", "must be an http or https URL")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidInputError("url", "names no host")
    if parts.username or parts.password:
        raise InvalidInputError("url", "must not carry credentials")
    port = port or (443 if parts.scheme == "https" else 80)
    fixed = pinned(host.lower()) if pinned is not None else None
    if fixed is not None:
        return Target(url=url, scheme=parts.scheme, host=host, port=fixed[1], address=fixed[0])
    addresses = _addresses(host, port, resolve)
    # Every address must pass: a name with one public and one private address
    # would otherwise reach the private one on some connection.
    for address in addresses:
        why = refusal(address, allowed)
        if why is not None:
            raise InvalidInputError("url", f"resolves to {why} ({address}), which is refused")
    return Target(url=url, scheme=parts.scheme, host=host, port=port, address=str(addresses[0]))
