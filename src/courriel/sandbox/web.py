"""Simulated web hosts and a DNS URI blocklist zone for the sandbox internet.

Links in a campaign lead to web sites; the link checker must meet dead pages,
broken servers, redirect chains, slow answers and huge bodies without the
real internet. One HTTP/1.1 server on loopback plays every simulated web
host: it reads the ``Host`` header and answers with the ``Page`` configured
for that host and path (the zone file maps each host name to this server, as
it maps MX hosts to the SMTP servers).

The blocklist zone plays a DNS-based URI blocklist (Spamhaus DBL, SURBL): a
listed domain ``d`` has an A record ``d.<zone>`` in ``127.0.1.0/24``, as the
real zones answer; an unlisted one has none.

The server is deliberately small (requests are ``HEAD`` or ``GET`` with no
body; every answer closes the connection): it needs to be a web host's
behaviour, not a web server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field

__all__ = [
    "BLOCKLIST_ZONE",
    "DEFAULT_WEB_HOSTS",
    "LISTED_DOMAINS",
    "Page",
    "WebHost",
    "WebHosts",
    "blocklist_records",
]

BLOCKLIST_ZONE = "dbl.sandbox.test"
"""The sandbox's URI blocklist zone (set it in `link_check_blocklist_zones`)."""

LISTED_DOMAINS: tuple[str, ...] = ("listed.test",)
"""Domains the sandbox blocklist lists."""

LISTED_ANSWER = "127.0.1.2"  # Spamhaus DBL's "spam domain" return code.
REQUEST_LIMIT = 16_384  # Bytes of request line and headers before we give up.
CHUNK = 65_536


@dataclass(frozen=True)
class Page:
    """How a simulated web host answers one path.

    ``status`` with ``location`` makes a redirect; ``delay_s`` waits before
    answering (a slow host); ``body_bytes`` is the size of the body sent to a
    GET (a huge one tests size limits); ``head`` False answers 405 to HEAD,
    as some servers do.
    """

    status: int = 200
    location: str | None = None
    delay_s: float = 0.0
    body_bytes: int = 64
    head: bool = True


@dataclass
class WebHost:
    """One simulated web host: pages by path, ``default`` for any other path."""

    name: str
    pages: dict[str, Page] = field(default_factory=dict)
    default: Page = field(default_factory=lambda: Page(status=404))

    def page(self, path: str) -> Page:
        """The page served at ``path`` (the query string is ignored)."""
        return self.pages.get(path.split("?", 1)[0], self.default)


def _default_hosts() -> tuple[WebHost, ...]:
    ok = Page()
    return (
        WebHost(
            "www.example.test",
            {
                "/": ok,
                "/offer": ok,
                "/broken": Page(status=500),
                "/no-head": Page(head=False),
                "/moved": Page(status=301, location="/moved-again"),
                "/moved-again": Page(status=302, location="http://www.example.test/offer"),
                "/away": Page(status=302, location="http://shop.other.test/landing"),
                "/to-listed": Page(status=302, location="http://www.listed.test/win"),
                "/loop": Page(status=302, location="/loop"),
                "/slow": Page(delay_s=30.0),
                "/huge": Page(body_bytes=50_000_000),
            },
        ),
        WebHost("shop.other.test", {"/landing": ok}),
        WebHost("www.listed.test", {"/win": ok}, default=ok),
    )


DEFAULT_WEB_HOSTS: tuple[WebHost, ...] = _default_hosts()


def blocklist_records(
    zone: str = BLOCKLIST_ZONE, listed: tuple[str, ...] = LISTED_DOMAINS
) -> dict[str, dict[str, list[str]]]:
    """The zone file's ``records`` for a URI blocklist ``zone`` listing ``listed``.

    The zone's own name carries a TXT record so that the resolver knows the
    whole zone is simulated: a name under it without a record is "not
    listed", not a question for the real DNS.
    """
    records: dict[str, dict[str, list[str]]] = {zone: {"TXT": ["sandbox URI blocklist"]}}
    for domain in listed:
        records[f"{domain}.{zone}"] = {"A": [LISTED_ANSWER]}
    return records


class WebHosts:
    """Every simulated web host, served by one HTTP server on the current loop."""

    def __init__(self, hosts: tuple[WebHost, ...] = DEFAULT_WEB_HOSTS) -> None:
        self.hosts: dict[str, WebHost] = {
            h.name: WebHost(h.name, dict(h.pages), h.default) for h in hosts
        }
        # Requests served, by (method, host, path): tests prove what was never fetched.
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def add(self, host: WebHost) -> None:
        """Serve ``host`` (replacing one of that name); before ``start`` to be in the zone."""
        self.hosts[host.name.lower()] = host

    def hits(self, host: str, path: str = "/") -> int:
        """How many requests (any method) ``host`` received for ``path``."""
        return sum(n for (_, h, p), n in self.requests.items() if h == host and p == path)

    async def start(self, address: str = "127.0.0.1") -> tuple[str, int]:
        """Listen on an ephemeral port of ``address``; the (ip, port) bound."""
        self._server = await asyncio.start_server(self._serve, address, 0)
        ip, port = self._server.sockets[0].getsockname()[:2]
        return str(ip), int(port)

    async def stop(self) -> None:
        """Stop listening and drop open connections (a slow page is cut short)."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            await self._answer(head, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(ConnectionError, RuntimeError):
                writer.close()

    async def _answer(self, head: bytes, writer: asyncio.StreamWriter) -> None:
        lines = head[:REQUEST_LIMIT].decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        path = rest.rpartition(" ")[0] or "/"
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
        }
        host = headers.get("host", "").rsplit(":", 1)[0].lower()
        self.requests[(method, host, path.split("?", 1)[0])] += 1
        site = self.hosts.get(host)
        page = site.page(path) if site is not None else Page(status=421)  # RFC 9110 §15.5.20
        if page.delay_s:
            await asyncio.sleep(page.delay_s)
        status = page.status
        if method == "HEAD" and not page.head:
            status = 405
        elif method not in ("HEAD", "GET"):
            status = 501
        extra = f"Location: {page.location}\r\n" if page.location else ""
        length = page.body_bytes if status == page.status else 0
        size = length if method == "GET" else 0  # RFC 9110 §9.3.2: HEAD has no body.
        writer.write(
            (
                f"HTTP/1.1 {status} Sandbox\r\n{extra}Content-Type: text/html\r\n"
                f"Content-Length: {length}\r\n"
                "Connection: close\r\n\r\n"
            ).encode("latin-1")
        )
        chunk = b"x" * CHUNK
        while size > 0:
            writer.write(chunk[: min(size, CHUNK)])
            size -= CHUNK
            await writer.drain()
        await writer.drain()
