"""The spool alone: how many messages a second can be claimed and settled.

Each claimer is a process of its own, as engines are: it claims a batch of
due messages under lease, settles every one as delivered in one group
commit, and starts again until nothing is due. The figure is messages
claimed and settled a second across all claimers, on PostgreSQL with 1, 4
and 16 claimers (is the spool the limit for ~20 engines?), and on SQLite,
the embedded default, with 1 and 4.

Run from the project root: `python bench/spool.py [--messages N]`. The
PostgreSQL part needs COURRIEL_BENCH_POSTGRES_URL (or
COURRIEL_TEST_POSTGRES_URL); its databases are dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import peak_rss_mb, report
from courriel.core import migrate
from courriel.core.db import create_db_engine, make_session_factory
from courriel.delivery.spool import NewMessage, Settlement, Spool

BATCH = 500  # what a worker claims at a time (worker_batch_size's default)
LEASE = dt.timedelta(minutes=5)
# A typical campaign message: headers, a text and an HTML part, ~6 KB.
BODY = (
    b"From: News <news@acme.test>\r\nTo: <x@gmail.test>\r\nSubject: Spring\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    + b"Our spring collection is here, with everything you asked for.\r\n"
    * 90
)


def _fill(url: str, messages: int) -> None:
    engine = create_db_engine(url)
    migrate.upgrade(engine, "spool")
    spool = Spool(make_session_factory(engine))
    now = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    for start in range(0, messages, 2000):
        spool.enqueue(
            [
                NewMessage(
                    tenant_id="ten_bench",
                    message_id=f"msg_{n}",
                    campaign_id="cmp_bench",
                    contact_id=f"con_{n}",
                    mail_from="bounce@acme.test",
                    rcpt_to=f"r{n}@{('gmail', 'yahoo', 'outlook', 'orange')[n % 4]}.test",
                    body=BODY,
                    transfer_ready=True,
                )
                for n in range(start, min(start + 2000, messages))
            ],
            now,
            dt.timedelta(days=5),
        )
    engine.dispose()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _claimer(
    url: str,
    name: str,
    ready: multiprocessing.synchronize.Barrier,
    out: multiprocessing.Queue[tuple[int, float, float]],
) -> None:
    engine = create_db_engine(url)
    spool = Spool(make_session_factory(engine))
    done = 0
    backend = 0
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            backend = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() or 0)
    # The server's CPU for this claimer's work, when its backend is on this
    # machine: the figure to compare when the machine is shared.
    server_before = _cpu_s(backend) if backend and Path(f"/proc/{backend}").exists() else None
    ready.wait()
    client_before = time.process_time()
    while True:
        claimed = spool.claim(name, BATCH, dt.datetime.now(dt.UTC), LEASE)
        if not claimed:
            break
        spool.settle(
            name,
            [
                Settlement(
                    m.id, "delivered", None, 250, "2.0.0 OK", m.domain, message_id=m.message_id
                )
                for m in claimed
            ],
        )
        done += len(claimed)
    client = time.process_time() - client_before
    server = _cpu_s(backend) - server_before if server_before is not None else float("nan")
    engine.dispose()
    out.put((done, client, server))


def _run(url: str, claimers: int, messages: int) -> tuple[float, float, float]:
    """Messages a second, and client and server CPU µs per message."""
    _fill(url, messages)
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Barrier(claimers + 1)
    out: multiprocessing.Queue[tuple[int, float, float]] = ctx.Queue()
    procs = [
        ctx.Process(target=_claimer, args=(url, f"bench-{i}", ready, out)) for i in range(claimers)
    ]
    for proc in procs:
        proc.start()
    ready.wait()
    started = time.perf_counter()
    results = [out.get() for _ in procs]
    elapsed = time.perf_counter() - started
    total = sum(r[0] for r in results)
    for proc in procs:
        proc.join()
    assert total == messages, f"{total} settled of {messages}: a message was lost or doubled"
    client_us = sum(r[1] for r in results) / messages * 1e6
    server_us = sum(r[2] for r in results) / messages * 1e6
    return messages / elapsed, client_us, server_us


def _postgres(server: str, claimers: int, messages: int) -> tuple[float, float, float]:
    name = f"cbench{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        return _run(
            make_url(server).set(database=name).render_as_string(hide_password=False),
            claimers,
            messages,
        )
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    figures: dict[str, float | int] = {"messages": args.messages}
    server = os.environ.get("COURRIEL_BENCH_POSTGRES_URL") or os.environ.get(
        "COURRIEL_TEST_POSTGRES_URL"
    )
    if server:
        for claimers in (1, 4, 16):
            rate, client_us, server_us = _postgres(server, claimers, args.messages)
            figures[f"claims_per_s_{claimers}"] = round(rate, 1)
            figures[f"client_cpu_us_per_message_{claimers}"] = round(client_us, 1)
            if server_us == server_us:  # not NaN: the server runs on this machine
                figures[f"postgres_cpu_us_per_message_{claimers}"] = round(server_us, 1)
            print(
                f"postgresql, {claimers:>2} claimers: {rate:,.0f} messages/s, CPU a message: "
                f"claimers {client_us:.1f} µs, PostgreSQL {server_us:.1f} µs",
                flush=True,
            )
    else:
        print("PostgreSQL skipped: set COURRIEL_BENCH_POSTGRES_URL", flush=True)
    for claimers in (1, 4):
        with tempfile.TemporaryDirectory() as scratch:
            rate, _, _ = _run(f"sqlite:///{scratch}/spool.db", claimers, args.messages)
        figures[f"sqlite_claims_per_s_{claimers}"] = round(rate, 1)
        print(f"sqlite,     {claimers:>2} claimers: {rate:,.0f} messages/s", flush=True)
    figures["peak_rss_mb"] = peak_rss_mb()
    report("spool: claim + settle", figures)


if __name__ == "__main__":
    main()
