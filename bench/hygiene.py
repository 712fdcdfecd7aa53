"""The cost of list hygiene per imported row: `ListHygiene.screen` over checked batches.

Run: ``.venv/bin/python bench/hygiene.py [ROWS]`` (default 1,000,000). Rows
are spread over 5,000 domains (a few of them disposable or mistyped), one in
500 a role address; DNS is off, so this measures the per-row rules and the
per-domain rules, the part every import pays. CPU time of the screening is
compared with a bare loop over the same rows, a ratio that holds on a
loaded machine better than the absolute figure.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from common import peak_rss_mb, report
from courriel.audience.hygiene.maildomains import MailDomains
from courriel.audience.hygiene.screen import ListHygiene
from courriel.audience.import_rows import CheckedBatch, CheckedRow
from courriel.audience.models import RoleAddresses
from courriel.delivery.mx import StaticMxResolver

BATCH = 10_000


def batches(rows: int, seed: int = 7) -> list[CheckedBatch]:
    """Checked batches as the reader hands them to the writer."""
    pick = random.Random(seed)
    domains = [f"d{i}.example-isp.net" for i in range(5_000)]
    domains += ["yopmail.com", "gmial.com", "hotmial.fr", "gmail.com", "orange.fr"]
    made = []
    for start in range(0, rows, BATCH):
        chunk: list[CheckedRow] = []
        for line in range(start, min(start + BATCH, rows)):
            domain = pick.choice(domains)
            local = "postmaster" if line % 500 == 0 else f"person{line}"
            chunk.append((line, f"{local}@{domain}", domain, None, None, None, None, "{}", ""))
        made.append(CheckedBatch(rows=chunk))
    return made


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    work = batches(rows)
    with tempfile.TemporaryDirectory() as data_dir:
        hygiene = ListHygiene(Path(data_dir), MailDomains(StaticMxResolver({}, {}), enabled=False))
        start = time.process_time()
        for batch in work:
            for _row in batch.rows:
                pass
        bare = time.process_time() - start
        start = time.process_time()
        for batch in work:
            hygiene.screen(batch, RoleAddresses.REFUSE)
        screened = time.process_time() - start
    rejected = sum(len(batch.rejected) for batch in work)
    report(
        "list hygiene: screening checked rows",
        {
            "rows": rows,
            "rejected": rejected,
            "screen_cpu_us_per_row": round(screened / rows * 1e6, 2),
            "bare_loop_cpu_us_per_row": round(bare / rows * 1e6, 3),
            "peak_rss_mb": peak_rss_mb(),
        },
    )


if __name__ == "__main__":
    main()
