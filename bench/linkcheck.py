"""Links checked per second against the sandbox internet's web hosts, and peak memory.

Starts the sandbox internet in a child process (its own CPU, as a web site
would be) with eleven simulated web hosts: ten answer 200 on any path, one
redirects every path to another. Then checks 1,000 distinct links (900 pages,
100 redirects) as a campaign's pre-send check does: each link through the
SSRF guard, HEAD, redirects followed, the hosts looked up in the sandbox's
URI blocklist, the results kept in the tenant's cache. Then the same 1,000
again, answered from the cache. Peak memory is this process's (the checker's),
not the sandbox's; `rss_before_check_mb` is the same figure before the
check, so the difference is what checking 1,000 links costs.

    .venv/bin/python bench/linkcheck.py [--links 1000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from pathlib import Path

from common import peak_rss_mb, report, timed
from courriel.config import Settings
from courriel.sandbox.server import Sandbox
from courriel.sandbox.web import BLOCKLIST_ZONE, Page, WebHost
from courriel.sandbox.zone import zone_path
from courriel.services import Services

HOSTS = [f"bench{i}.example.test" for i in range(10)]
MOVED = "moved.example.test"


def _sandbox(data_dir: Path, stop: multiprocessing.synchronize.Event) -> None:
    async def main() -> None:
        sandbox = Sandbox(data_dir)
        for host in HOSTS:
            sandbox.web.add(WebHost(host, default=Page()))
        sandbox.web.add(WebHost(MOVED, default=Page(status=301, location=f"http://{HOSTS[0]}/")))
        async with sandbox:
            await asyncio.to_thread(stop.wait)

    asyncio.run(main())


def _links(count: int) -> list[str]:
    moved = count // 10
    pages = [
        f"http://{HOSTS[i % len(HOSTS)]}/page/{i}?utm_source=courriel" for i in range(count - moved)
    ]
    return pages + [f"http://{MOVED}/old/{i}" for i in range(moved)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="courriel-bench-links-") as tmp:
        data_dir = Path(tmp)
        settings = Settings(
            data_dir=data_dir,
            resolver="sandbox",
            secret_key="bench-secret-key-0123456789abcdef",
            link_check_blocklist_zones=[BLOCKLIST_ZONE],
            link_check_concurrency=args.concurrency,
        )
        stop = multiprocessing.Event()
        child = multiprocessing.Process(target=_sandbox, args=(data_dir, stop))
        child.start()
        try:
            deadline = time.monotonic() + 30
            while not zone_path(data_dir).exists():
                if time.monotonic() > deadline or not child.is_alive():
                    raise SystemExit("the sandbox did not start")
                time.sleep(0.05)
            services = Services.build(settings)
            services.tenants.migrate_shared()
            tenant = services.tenants.create("Bench")
            links = _links(args.links)
            # What the process holds before checking (Courriel imported, databases open).
            before = peak_rss_mb()
            with timed() as cold:
                reports = services.link_checker.check_urls(tenant.id, links)
            with timed() as warm:
                again = services.link_checker.check_urls(tenant.id, links)
            services.close()
        finally:
            stop.set()
            child.join(10)
            if child.is_alive():
                child.terminate()
    blocking = sum(r.blocking for r in reports)
    moved = sum("redirect" in r.kinds for r in reports)
    if blocking or moved != args.links // 10 or not all(r.cached for r in again):
        raise SystemExit(f"unexpected results: {blocking} blocking, {moved} redirects")
    report(
        "linkcheck",
        {
            "links": len(links),
            "concurrency": args.concurrency,
            "links_per_s": round(len(links) / cold[0], 1),
            "cached_links_per_s": round(len(links) / warm[0], 1),
            "seconds": round(cold[0], 2),
            "rss_before_check_mb": before,
            "peak_rss_mb": peak_rss_mb(),
        },
    )


if __name__ == "__main__":
    main()
