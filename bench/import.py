"""Import a generated CSV of contacts into a list on SQLite: rows per second and peak RSS.

Run: ``.venv/bin/python bench/import.py [ROWS]`` (default 1,000,000). Every row
goes through validation (address, typed property) and dedupe (in the file
and against the database); one row in a thousand is a duplicate and one in a
thousand is malformed, so rejections are exercised too.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from common import peak_rss_mb, report, timed
from courriel.accounts.principal import Principal
from courriel.audience.importer import ImportRequest
from courriel.audience.models import PropertyKind
from courriel.config import Settings
from courriel.services import Services


def generate(path: Path, rows: int) -> None:
    """A CSV of `rows` contacts with a country property."""
    countries = ("FR", "DE", "BE", "ES")
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,first_name,country\n")
        for i in range(rows):
            if i % 1000 == 999:
                out.write(f"broken..{i}@example.com,X,FR\n")
            elif i % 1000 == 998:
                out.write(f"person{i - 1}@example{(i - 1) % 97}.com,Dup,FR\n")
            else:
                out.write(f"person{i}@example{i % 97}.com,Name{i},{countries[i % 4]}\n")


def main() -> None:
    """Generate, import, report."""
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contacts.csv"
        generate(path, rows)
        services = Services.build(Settings(data_dir=Path(tmp) / "data"))
        services.tenants.migrate_shared()
        tenant = services.tenants.create("bench")
        operator = Principal.operator(tenant.id)
        services.audience.properties.define(
            operator, "country", PropertyKind.CHOICE, ["FR", "DE", "BE", "ES"]
        )
        lst = services.audience.create_list(operator, "Bench", "bench", double_opt_in=False)
        request = ImportRequest(
            list_id=lst.id, file_name=path.name, legal_basis="consent", source="customers"
        )
        with timed() as elapsed:
            job = services.audience.imports.start(operator, request, path)
            job = services.audience.imports.run(operator, job, request, path)
        services.close()
    report(
        "import",
        {
            "rows": rows,
            "imported": job.imported,
            "rejected": job.rejected,
            "seconds": round(elapsed[0], 2),
            "rows_per_s": round(rows / elapsed[0]),
            "peak_rss_mb": peak_rss_mb(),
        },
    )


if __name__ == "__main__":
    main()
