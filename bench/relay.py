"""The SMTP relay: messages accepted per second over 10 TLS connections.

`courriel relay` runs as its own process (SQLite, the embedded default) with
a tenant whose key and sender domain are made first. Ten aiosmtplib clients
in this process connect to the STARTTLS port, log in with AUTH PLAIN (key id
and secret) and submit messages of about 2 KB, each with a Mailjet
X-MJ-CustomID, one after the other on each connection. Every 250 means the
message was read, checked, DKIM-signed (RSA-2048 and Ed25519) and committed
to the spool (group commit across the connections).

Figures:
- messages_per_s: messages / (all clients logged in -> last 250);
- relay_cpu_ms_per_message: the relay process's CPU per message (user+system);
- client_cpu_ms_per_message: this process's CPU per message (aiosmtplib, TLS),
  which shares the cores with the relay;
- peak_rss_mb: the relay process's peak resident memory (VmHWM; the largest
  of its processes with --processes).

Run: .venv/bin/python bench/relay.py [--messages 10000] [--connections 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib

from common import report
from courriel.config import Settings
from courriel.core.principal import Principal
from courriel.services import Services

DOMAIN = "shop.test"
BODY_LINE = "Thank you for your order; it leaves our warehouse today. " * 1 + "\r\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks: int = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _children(pid: int) -> list[int]:
    # The relay's helper processes (and multiprocessing's resource tracker).
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(child) for child in children)
    return found


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _message(n: int) -> bytes:
    head = (
        f"From: Shop <orders@{DOMAIN}>\r\nTo: <customer{n}@gmail.test>\r\n"
        f"Subject: Your order {n}\r\nX-MJ-CustomID: order-{n}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return (head + BODY_LINE * 34).encode()


async def _client(
    port: int, key_id: str, secret: str, numbers: range, ready: asyncio.Barrier, *, implicit: bool
) -> None:
    smtp = aiosmtplib.SMTP(
        hostname="127.0.0.1",
        port=port,
        use_tls=implicit,
        start_tls=not implicit,
        validate_certs=False,
        timeout=60,
    )
    await smtp.connect()
    await smtp.login(key_id, secret)
    await ready.wait()
    for n in numbers:
        await smtp.sendmail(f"orders@{DOMAIN}", [f"customer{n}@gmail.test"], _message(n))
    await smtp.quit()


async def _submit(
    port: int, key_id: str, secret: str, count: int, connections: int, *, implicit: bool
) -> tuple[float, float]:
    ready = asyncio.Barrier(connections + 1)
    share = count // connections
    tasks = [
        asyncio.create_task(
            _client(
                port, key_id, secret, range(k * share, (k + 1) * share), ready, implicit=implicit
            )
        )
        for k in range(connections)
    ]
    await ready.wait()
    cpu_before = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*tasks)
    return time.perf_counter() - started, time.process_time() - cpu_before


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the relay exited")
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
        except OSError:
            time.sleep(0.1)
        else:
            return
    raise SystemExit("the relay did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--processes", type=int, default=1, help="Relay processes (SO_REUSEPORT)")
    parser.add_argument(
        "--implicit-tls", action="store_true", help="Port 465 style (RFC 8314) instead of STARTTLS"
    )
    args = parser.parse_args()
    count: int = args.messages - args.messages % args.connections
    implicit: bool = args.implicit_tls
    with tempfile.TemporaryDirectory(prefix="courriel-bench-") as tmp:
        data_dir = Path(tmp)
        settings = Settings(data_dir=data_dir, resolver="sandbox")
        services = Services.build(settings)
        services.tenants.migrate_shared()
        tenant = services.tenants.create("Bench")
        operator = Principal.operator(tenant.id)
        key = services.api_keys.create(operator, "relay")
        services.sender_domains.add(operator, DOMAIN)
        services.close()
        port = _free_port()
        env = {
            **os.environ,
            "COURRIEL_DATA_DIR": str(data_dir),
            "COURRIEL_RESOLVER": "sandbox",
            "COURRIEL_LOG_LEVEL": "WARNING",
        }
        courriel = Path(sys.executable).parent / "courriel"
        relay = subprocess.Popen(
            [
                str(courriel),
                "relay",
                *(("--port", "0", "--tls-port", str(port)) if implicit else ("--port", str(port))),
                *(() if implicit else ("--tls-port", "0")),
                "--processes",
                str(args.processes),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        try:
            _wait_listening(port, relay)
            # A warm-up round (imports, key loading, caches), not counted.
            asyncio.run(
                _submit(
                    port,
                    key.id,
                    key.secret,
                    args.connections * 10,
                    args.connections,
                    implicit=implicit,
                )
            )
            relay_before = _process_cpu_s(relay.pid)
            helpers_before = {pid: _process_cpu_s(pid) for pid in _children(relay.pid)}
            elapsed, client_cpu = asyncio.run(
                _submit(port, key.id, key.secret, count, args.connections, implicit=implicit)
            )
            relay_cpu = _process_cpu_s(relay.pid) - relay_before
            peak = _peak_rss_mb(relay.pid)
            helpers = _children(relay.pid)
            relay_cpu += sum(_process_cpu_s(pid) - helpers_before.get(pid, 0.0) for pid in helpers)
            peak = max([peak, *(_peak_rss_mb(pid) for pid in helpers)])
        finally:
            relay.terminate()
            relay.wait(30)

    report(
        "relay",
        {
            "messages": count,
            "connections": args.connections,
            "relay_processes": args.processes,
            "implicit_tls": int(implicit),
            "seconds": round(elapsed, 2),
            "relay_cpu_ms_per_message": round(relay_cpu / count * 1000, 3),
            "client_cpu_ms_per_message": round(client_cpu / count * 1000, 3),
            "messages_per_s": round(count / elapsed, 1),
            "peak_rss_mb": peak,
        },
    )


if __name__ == "__main__":
    main()
