"""The zone file tells the resolver where the simulated MX hosts listen."""

from __future__ import annotations

import asyncio
import json
import random
from typing import TYPE_CHECKING

import aiosmtplib
import pytest

from courriel.sandbox.providers import (
    DEFAULT_PROVIDERS,
    GOOGLE,
    numbered_domains,
    provider_for_domain,
    with_extra_domains,
)
from courriel.sandbox.server import Sandbox
from courriel.sandbox.zone import Zone, ZoneFileError, read_zone, write_zone, zone_path

if TYPE_CHECKING:
    from pathlib import Path


def test_zone_file_has_the_bound_ports_and_reads_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Sandbox(tmp_path) as sandbox:
            written = read_zone(zone_path(tmp_path))
            assert written == sandbox.zone
            assert written.mx("GMAIL.test") == [("mx.google.test", 10)]
            assert written.mx("nowhere.test") == []
            for provider in DEFAULT_PROVIDERS:
                ip, port = written.hosts[provider.mx_host]
                assert ip == "127.0.0.1"
                assert port > 0
                # Something really listens there and says it is that MX host.
                client = aiosmtplib.SMTP(hostname=ip, port=port)
                greeting = await client.connect()
                assert greeting.message.startswith(provider.mx_host)
                await client.quit()

    asyncio.run(scenario())


def test_the_file_format_is_the_one_the_resolver_reads(tmp_path: Path) -> None:
    path = tmp_path / "zone.json"
    zone = Zone(
        domains={"gmail.test": [("mx.google.test", 10)]},
        hosts={"mx.google.test": ("127.0.0.1", 40123)},
    )
    write_zone(path, zone)
    assert json.loads(path.read_text()) == {
        "domains": {"gmail.test": [["mx.google.test", 10]]},
        "hosts": {"mx.google.test": ["127.0.0.1", 40123]},
    }
    assert read_zone(path) == zone
    assert zone.address("MX.Google.test") == ("127.0.0.1", 40123)
    # The write is atomic: no temporary file is left beside the zone.
    assert [p.name for p in tmp_path.iterdir()] == ["zone.json"]


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"domains": []},
        {"domains": {"a.test": [["mx.a.test"]]}},
        {"domains": {"a.test": [["mx.a.test", "10"]]}},
        {"hosts": {"mx.a.test": ["127.0.0.1", True]}},
    ],
)
def test_a_malformed_zone_file_is_reported(tmp_path: Path, document: object) -> None:
    path = tmp_path / "zone.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ZoneFileError):
        read_zone(path)


def test_fixed_base_port_binds_consecutive_ports(tmp_path: Path) -> None:
    async def scenario(base: int) -> None:
        async with Sandbox(tmp_path, base_port=base) as sandbox:
            ports = [sandbox.zone.hosts[p.mx_host][1] for p in DEFAULT_PROVIDERS]
            assert ports == [base, base + 1, base + 2, base + 3]

    # A few tries: another process may hold a port in the range chosen.
    rng = random.Random()
    for _ in range(5):
        try:
            asyncio.run(scenario(rng.randrange(20000, 60000)))
        except OSError:
            continue
        return
    pytest.fail("no free range of four ports found")


def test_many_numbered_domains_share_their_provider_mx(tmp_path: Path) -> None:
    providers = with_extra_domains(12)
    assert sum(len(p.domains) for p in providers) == 8 + 48
    assert numbered_domains(GOOGLE, 2) == ("d1.google.test", "d2.google.test")
    assert provider_for_domain("D7.Yahoo.test", providers) == providers[1]

    async def scenario() -> None:
        async with Sandbox(tmp_path, providers=providers) as sandbox:
            assert sandbox.zone.mx("d12.microsoft.test") == [("mx.outlook.test", 10)]
            ip, port = sandbox.zone.hosts["mx.outlook.test"]
            client = aiosmtplib.SMTP(hostname=ip, port=port)
            await client.connect()
            await client.sendmail(
                "a@shop.test", ["x@d12.microsoft.test"], b"Subject: hi\r\n\r\nx\r\n"
            )
            await client.quit()
            assert sandbox.store.count("x@d12.microsoft.test") == 1

    asyncio.run(scenario())


def test_a_domain_cannot_belong_to_two_providers(tmp_path: Path) -> None:
    twin = GOOGLE.with_domains(["yahoo.test"])

    async def scenario() -> None:
        async with Sandbox(tmp_path, providers=[twin, DEFAULT_PROVIDERS[1]]):
            pass

    with pytest.raises(ValueError, match="two providers"):
        asyncio.run(scenario())
