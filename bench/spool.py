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


def _claimer(
    url: str,
    name: str,
    ready: multiprocessing.synchronize.Barrier,
    out: multiprocessing.Queue[int],
) -> None:
    engine = create_db_engine(url)
    spool = Spool(make_session_factory(engine))
    done = 0
    ready.wait()
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
    engine.dispose()
    out.put(done)


def _run(url: str, claimers: int, messages: int) -> float:
    _fill(url, messages)
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Barrier(claimers + 1)
    out: multiprocessing.Queue[int] = ctx.Queue()
    procs = [
        ctx.Process(target=_claimer, args=(url, f"bench-{i}", ready, out)) for i in range(claimers)
    ]
    for proc in procs:
        proc.start()
    ready.wait()
    started = time.perf_counter()
    total = sum(out.get() for _ in procs)
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join()
    assert total == messages, f"{total} settled of {messages}: a message was lost or doubled"
    return messages / elapsed


def _postgres(server: str, claimers: int, messages: int) -> float:
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
            rate = _postgres(server, claimers, args.messages)
            figures[f"claims_per_s_{claimers}"] = round(rate, 1)
            print(f"postgresql, {claimers:>2} claimers: {rate:,.0f} messages/s", flush=True)
    else:
        print("PostgreSQL skipped: set COURRIEL_BENCH_POSTGRES_URL", flush=True)
    for claimers in (1, 4):
        with tempfile.TemporaryDirectory() as scratch:
            rate = _run(f"sqlite:///{scratch}/spool.db", claimers, args.messages)
        figures[f"sqlite_claims_per_s_{claimers}"] = round(rate, 1)
        print(f"sqlite,     {claimers:>2} claimers: {rate:,.0f} messages/s", flush=True)
    figures["peak_rss_mb"] = peak_rss_mb()
    report("spool: claim + settle", figures)


if __name__ == "__main__":
    main()
