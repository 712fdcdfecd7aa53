"""A tiny authoritative DNS server on a real UDP socket, for tests.

It answers from a dnspython zone (NXDOMAIN with the SOA for unknown names,
RFC 2308 §3), so code under test uses an ordinary resolver pointed at it.
`DnsThread` runs it on an event loop of its own, for synchronous tests;
tests/delivery/test_mx.py has the same server for its asyncio scenarios.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Self, cast

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

SOA = "ns.test. hostmaster.test. 1 3600 600 86400 120"


class DnsServer(asyncio.DatagramProtocol):
    """Answers from a zone; names in `servfail` get SERVFAIL. Records each question."""

    def __init__(self, zone: dns.zone.Zone, servfail: set[str] | None = None) -> None:
        self.zone = zone
        self.servfail = {dns.name.from_text(name) for name in servfail or set()}
        self.queries: list[tuple[str, str]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.DatagramTransport", transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        self.queries.append(
            (question.name.to_text(omit_final_dot=True), dns.rdatatype.to_text(question.rdtype))
        )
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if question.name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        else:
            self._answer(response, question.name, question.rdtype)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)

    def _answer(
        self, response: dns.message.Message, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> None:
        node = self.zone.get_node(name)
        rdataset = node.get_rdataset(dns.rdataclass.IN, rdtype) if node is not None else None
        if rdataset is not None:
            response.answer.append(dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset)))
            return
        if node is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        # RFC 2308 §3: negative answers carry the zone's SOA for their TTL.
        origin = self.zone.origin or dns.name.root
        soa = self.zone.find_rdataset(origin, dns.rdatatype.SOA)
        response.authority.append(dns.rrset.from_rdata_list(origin, soa.ttl, list(soa)))

    def count(self, name: str) -> int:
        """How many questions about `name` the server was asked."""
        return sum(1 for queried, _ in self.queries if queried == name)


def txt_value(text: str) -> str:
    """A TXT record's presentation: strings of at most 255 characters (RFC 1035 §3.3.14)."""
    chunks = [text[i : i + 255] for i in range(0, len(text), 255)] or [""]
    return " ".join('"' + chunk.replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in chunks)


def make_zone(origin: str, txt: dict[str, list[str]]) -> dns.zone.Zone:
    """A zone for `origin` with TXT records (absolute names → values)."""
    zone = dns.zone.Zone(dns.name.from_text(origin))
    soa = zone.find_rdataset(zone.origin or dns.name.root, dns.rdatatype.SOA, create=True)
    soa.add(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SOA, SOA), 300)
    for name, values in txt.items():
        if not values:
            continue
        rdataset = zone.find_rdataset(dns.name.from_text(name), dns.rdatatype.TXT, create=True)
        for value in values:
            rdataset.add(
                dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, txt_value(value)), 300
            )
    return zone


class DnsThread:
    """`with DnsThread(zone) as server:` serves it on 127.0.0.1:`server.port`."""

    def __init__(self, zone: dns.zone.Zone) -> None:
        self.zone = zone
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._transport: asyncio.DatagramTransport | None = None
        self.server: DnsServer | None = None

    async def _start(self) -> None:
        transport, server = await self._loop.create_datagram_endpoint(
            lambda: DnsServer(self.zone), local_addr=("127.0.0.1", 0)
        )
        self._transport = transport
        self.server = server
        self.port = int(transport.get_extra_info("sockname")[1])

    def __enter__(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._transport is not None:
            self._loop.call_soon_threadsafe(self._transport.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
