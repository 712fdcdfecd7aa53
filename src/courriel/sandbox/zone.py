"""The resolver override file: where the simulated domains' mail goes.

The delivery engine must not know it is talking to a sandbox: it resolves MX
records and connects, as it would on the internet. The sandbox writes this
file with the ports it really bound, and the engine's MX resolver reads it
before asking DNS. The format is shared with that resolver and is fixed::

    {"domains": {"gmail.test": [["mx.google.test", 10]]},
     "hosts": {"mx.google.test": ["127.0.0.1", 40123]}}

``domains`` maps a mail domain to its MX records as ``[host, preference]``
(RFC 5321 §5.1: lower preference is tried first); ``hosts`` maps an MX host
to the ``[ip, port]`` to connect to, standing in for its A record plus the
port 25 that a sandbox on loopback cannot use. Two optional keys carry
what MTA-STS and DANE look up (tests publish them)::

    "records": {"_mta-sts.gmail.test": {"TXT": ["v=STSv1; id=1"]},
                "_25._tcp.mx.google.test": {"TLSA": ["3 1 1 <hex>"]}},
    "signed": ["google.test"]

``signed`` names the zones whose answers count as DNSSEC-validated.

The simulated web hosts (`courriel.sandbox.web`) are in ``hosts`` too: a
web host's ``[ip, port]`` stands in for its A record plus port 80, just as
an MX host's stands in for port 25 (the sandbox web server speaks plain
HTTP). The DNS URI blocklist zone is in ``records``: its apex carries a TXT
record, and each listed domain an A record under it::

    "hosts": {"www.example.test": ["127.0.0.1", 40555]},
    "records": {"dbl.sandbox.test": {"TXT": ["sandbox URI blocklist"]},
                "listed.test.dbl.sandbox.test": {"A": ["127.0.1.2"]}}

A name under a zone the file knows (a key of ``domains``, ``hosts`` or
``records``) is answered from the file alone; any other name goes to DNS.
Readers that know nothing of web hosts see only more hosts.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from courriel.sandbox.providers import Provider

__all__ = [
    "MX_PREFERENCE",
    "Zone",
    "ZoneFileError",
    "build_zone",
    "read_zone",
    "write_zone",
    "zone_path",
]

MX_PREFERENCE = 10
"""The preference of the single MX record each simulated domain has."""


class ZoneFileError(ValueError):
    """The zone file exists but is not a zone (a hand edit gone wrong)."""


@dataclass(frozen=True)
class Zone:
    """MX records and host addresses of the sandbox internet."""

    domains: dict[str, list[tuple[str, int]]]
    hosts: dict[str, tuple[str, int]]
    records: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def mx(self, domain: str) -> list[tuple[str, int]]:
        """The MX records of ``domain``, most preferred first; [] if unknown."""
        return sorted(self.domains.get(domain.lower(), []), key=lambda rec: rec[1])

    def address(self, host: str) -> tuple[str, int] | None:
        """The (ip, port) to connect to for MX ``host``, if it is simulated."""
        return self.hosts.get(host.lower())


def zone_path(data_dir: Path) -> Path:
    """Where the sandbox writes its zone file under ``data_dir``."""
    return data_dir / "sandbox" / "zone.json"


def build_zone(
    providers: Iterable[Provider],
    addresses: Mapping[str, tuple[str, int]],
    web: Mapping[str, tuple[str, int]] | None = None,
    records: Mapping[str, dict[str, list[str]]] | None = None,
) -> Zone:
    """The zone for ``providers``, whose servers listen on ``addresses``.

    ``web`` maps simulated web host names to the HTTP server's (ip, port);
    ``records`` are other DNS records (the blocklist zone).

    ``addresses`` maps a provider name to the (ip, port) its server bound.
    A domain claimed by two providers is an error: mail for it would go to
    whichever came last, and the test that relied on the other would fail
    far from the cause.
    """
    domains: dict[str, list[tuple[str, int]]] = {}
    hosts: dict[str, tuple[str, int]] = {}
    for provider in providers:
        hosts[provider.mx_host] = addresses[provider.name]
        for domain in provider.domains:
            if domain in domains:
                raise ValueError(f"domain {domain!r} belongs to two providers")
            domains[domain] = [(provider.mx_host, MX_PREFERENCE)]
    for name, address in (web or {}).items():
        if name in hosts:
            raise ValueError(f"host {name!r} is both an MX host and a web host")
        hosts[name] = address
    return Zone(domains=domains, hosts=hosts, records=dict(records or {}))


def write_zone(path: Path, zone: Zone) -> None:
    """Write ``zone`` to ``path`` atomically.

    The resolver may read the file at any moment, from another process; a
    temporary file in the same directory renamed over the old one means it
    sees either the old zone or the new one, never half of one.
    """
    document: dict[str, Any] = {
        "domains": {d: [[host, pref] for host, pref in mx] for d, mx in zone.domains.items()},
        "hosts": {host: [ip, port] for host, (ip, port) in zone.hosts.items()},
    }
    if zone.records:
        document["records"] = zone.records
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".zone-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            json.dump(document, tmp, indent=2, sort_keys=True)
            tmp.write("\n")
            tmp.flush()
            os.fsync(tmp.fileno())
        Path(tmp_name).replace(path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def read_zone(path: Path) -> Zone:
    """Read the zone file at ``path``.

    Raises ``FileNotFoundError`` when no sandbox has written one, and
    ``ZoneFileError`` (a ``ValueError``) when the file is not a zone, so a hand-edited mistake is
    reported where it is rather than as a failed delivery later.
    """
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ZoneFileError(f"{path}: a zone is a JSON object")
    raw_domains = _object(document, "domains", path)
    raw_hosts = _object(document, "hosts", path)
    domains = {
        str(domain).lower(): [_pair(rec, path) for rec in _list(mx, path)]
        for domain, mx in raw_domains.items()
    }
    hosts = {str(host).lower(): _pair(addr, path) for host, addr in raw_hosts.items()}
    records = {
        str(name).lower().rstrip("."): {
            str(kind).upper(): _strings(values, path) for kind, values in _mapping(rr, path).items()
        }
        for name, rr in _object(document, "records", path).items()
    }
    return Zone(domains=domains, hosts=hosts, records=records)


def _strings(value: Any, path: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ZoneFileError(f"{path}: record values are a list of strings, got {value!r}")
    return list(value)


def _mapping(value: Any, path: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ZoneFileError(f"{path}: a record set is a JSON object of type to values")
    return value


def _object(document: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise ZoneFileError(f"{path}: {key!r} must be a JSON object")
    return value


def _list(value: Any, path: Path) -> list[Any]:
    if not isinstance(value, list):
        raise ZoneFileError(f"{path}: expected a list of [host, preference], got {value!r}")
    return value


def _pair(value: Any, path: Path) -> tuple[str, int]:
    # bool is an int in Python; a port or a preference of `true` is a typo.
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], int)
        or isinstance(value[1], bool)
    ):
        raise ZoneFileError(f"{path}: expected [name, number], got {value!r}")
    return value[0].lower(), value[1]
