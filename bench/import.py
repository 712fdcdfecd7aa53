"""Import a generated CSV of contacts into a list on SQLite: rows per second and peak RSS.

Run: ``.venv/bin/python bench/import.py [ROWS]`` (default 1,000,000). Every row
goes through validation (address, typed property) and dedupe (in the file
and against the database); one row in a thousand is a duplicate and one in a
thousand is malformed, so rejections are exercised too.

A file this large is read and checked by a child process while the importing
process writes (`courriel.audience.import_reader`): peak RSS is the sum of
both processes' peaks, and CPU time is given for each. On a shared machine
the wall-clock rate depends on the other load; `bound_rows_per_s` is the
rate two free cores would give, from the CPU time of the busier process.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

from common import cpu_seconds, peak_rss_mb, report, timed
from courriel.audience.importer import ImportRequest
from courriel.audience.models import PropertyKind
from courriel.config import Settings
from courriel.core.principal import Principal
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


class ChildMemory:
    """The largest own peak RSS (VmHWM) of this process's children, sampled in a thread.

    `RUSAGE_CHILDREN` cannot be used: Linux counts in a child's peak the pages
    it shared with this process between fork and exec.
    """

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        # Only the child found is read often: scanning /proc costs the CPU measured.
        child: Path | None = None
        while not self._stop.wait(0.1):
            if child is None:
                child = self._find_child()
                continue
            try:
                peak = _vm_hwm_kib(child.read_text())
            except OSError:
                child = None  # it ended; a later import may start another
                continue
            self.peak_kib = max(self.peak_kib, peak)

    @staticmethod
    def _find_child() -> Path | None:
        me = f"PPid:\t{os.getpid()}\n"
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                if me in status.read_text():
                    return status
            except OSError:
                continue
        return None

    def stop_mb(self) -> float:
        """Stop sampling; the peak in MB."""
        self._stop.set()
        self._thread.join()
        return round(self.peak_kib / 1024, 1)


def _vm_hwm_kib(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


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
        own_before, children_before = cpu_seconds()
        children = ChildMemory()
        with timed() as elapsed:
            job = services.audience.imports.start(operator, request, path)
            job = services.audience.imports.run(operator, job, request, path)
        own_after, children_after = cpu_seconds()
        reader_rss = children.stop_mb()
        services.close()
    importer_cpu = own_after - own_before
    reader_cpu = children_after - children_before
    report(
        "import",
        {
            "rows": rows,
            "imported": job.imported,
            "rejected": job.rejected,
            "seconds": round(elapsed[0], 2),
            "load_average": round(os.getloadavg()[0], 1),
            "importer_cpu_s": round(importer_cpu, 2),
            "reader_cpu_s": round(reader_cpu, 2),
            "cpu_us_per_row": round((importer_cpu + reader_cpu) / rows * 1e6, 1),
            "bound_rows_per_s": round(rows / max(importer_cpu, reader_cpu)),
            "importer_rss_mb": peak_rss_mb(),
            "reader_rss_mb": reader_rss,
            "rows_per_s": round(rows / elapsed[0]),
            "peak_rss_mb": round(peak_rss_mb() + reader_rss, 1),
        },
    )


if __name__ == "__main__":
    main()
