"""Append to and verify a tenant's audit trail on SQLite.

Run: ``.venv/bin/python bench/audit.py [ENTRIES]`` (default 20,000). Entries
are appended one transaction each (the cost every audited action pays), then
the whole chain is verified. CPU time per operation is reported besides wall
time, since the machines are shared.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from common import report
from courriel.config import Settings
from courriel.core.principal import Principal
from courriel.services import Services


def main(entries: int) -> None:
    """Append `entries` entries, then verify them."""
    with tempfile.TemporaryDirectory() as folder:
        services = Services.build(Settings(data_dir=Path(folder)))
        services.tenants.migrate_shared()
        tenant = services.tenants.create("Bench")
        operator = Principal.operator(tenant.id)
        detail = {"list_id": "lst_0123456789abcdefghijklmnop", "source": "api"}
        cpu, wall = time.process_time(), time.perf_counter()
        for n in range(entries):
            services.audit.record(
                tenant.id, operator, "consent.recorded", f"contact:con_{n:026d}", detail
            )
        append_cpu, append_wall = time.process_time() - cpu, time.perf_counter() - wall
        cpu, wall = time.process_time(), time.perf_counter()
        result = services.audit.verify(operator)
        verify_cpu, verify_wall = time.process_time() - cpu, time.perf_counter() - wall
        assert result.ok, result
        services.close()
    report(
        "audit trail (SQLite)",
        {
            "entries": entries,
            "append_cpu_us_per_entry": round(append_cpu / entries * 1e6, 1),
            "append_wall_us_per_entry": round(append_wall / entries * 1e6, 1),
            "verify_cpu_us_per_entry": round(verify_cpu / result.entries * 1e6, 2),
            "verify_entries_per_s": round(result.entries / verify_wall),
        },
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
