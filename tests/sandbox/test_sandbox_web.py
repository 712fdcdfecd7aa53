"""The sandbox's web hosts and URI blocklist zone, in the zone file the resolver reads."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import httpx
import pytest

from courriel.delivery.mx import StaticMxResolver
from courriel.sandbox.server import Sandbox
from courriel.sandbox.web import BLOCKLIST_ZONE, Page, WebHost, blocklist_records
from courriel.sandbox.zone import Zone, ZoneFileError, read_zone, write_zone, zone_path

if TYPE_CHECKING:
    from pathlib import Path


def test_web_hosts_answer_by_host_and_path_from_the_zone_file(tmp_path: Path) -> None:
    async def scenario() -> None:
        sandbox = Sandbox(tmp_path)
        sandbox.web.add(WebHost("blog.example.test", {"/post": Page(status=410)}))
        async with sandbox:
            resolver = StaticMxResolver.from_zone_file(zone_path(tmp_path))
            address = resolver.address_of("blog.example.test")
            assert address == resolver.address_of("www.example.test")
            assert address is not None
            ip, port = address
            base = f"http://{ip}:{port}"
            async with httpx.AsyncClient() as client:

                async def ask(method: str, host: str, path: str) -> httpx.Response:
                    return await client.request(method, base + path, headers={"Host": host})

                assert (await ask("GET", "blog.example.test", "/post")).status_code == 410
                assert (await ask("HEAD", "www.example.test", "/offer")).status_code == 200
                assert (await ask("HEAD", "www.example.test", "/no-head")).status_code == 405
                assert (await ask("GET", "www.example.test", "/no-head")).status_code == 200
                moved = await ask("GET", "www.example.test", "/moved")
                assert (moved.status_code, moved.headers["location"]) == (301, "/moved-again")
                assert (await ask("GET", "unknown.test", "/")).status_code == 421
                assert (await ask("POST", "www.example.test", "/offer")).status_code == 501
            assert sandbox.web.hits("www.example.test", "/no-head") == 2
            # The blocklist zone: a listed domain has an A record, others none,
            # and the whole zone is the file's (no question goes to the DNS).
            assert resolver.records(f"listed.test.{BLOCKLIST_ZONE}", "A") == (
                ["127.0.1.2"],
                False,
            )
            assert resolver.records(f"clean.test.{BLOCKLIST_ZONE}", "A") == ([], False)

    asyncio.run(scenario())


def test_records_are_written_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "zone.json"
    zone = Zone(
        domains={},
        hosts={"www.example.test": ("127.0.0.1", 40555)},
        records=blocklist_records("dbl.test", ("bad.test",)),
    )
    write_zone(path, zone)
    assert json.loads(path.read_text())["records"] == {
        "dbl.test": {"TXT": ["sandbox URI blocklist"]},
        "bad.test.dbl.test": {"A": ["127.0.1.2"]},
    }
    assert read_zone(path) == zone


@pytest.mark.parametrize(
    "records", [[], {"x.test": []}, {"x.test": {"A": "127.0.0.2"}}, {"x.test": {"A": [1]}}]
)
def test_malformed_records_are_reported(tmp_path: Path, records: object) -> None:
    path = tmp_path / "zone.json"
    path.write_text(json.dumps({"domains": {}, "hosts": {}, "records": records}))
    with pytest.raises(ZoneFileError):
        read_zone(path)
