"""What every benchmark prints: machine facts, its figures, and a last JSON line.

Benchmarks are run as `python bench/NAME.py` from the project root. The
machines are shared and noisy, so each benchmark measures the figures it
compares (e.g. a rate and the bound it is compared with) in the same run.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def machine_facts() -> dict[str, object]:
    """Cores, CPU model, memory, Python: printed before the figures."""
    model = ""
    try:
        with Path("/proc/cpuinfo").open(encoding="ascii", errors="replace") as cpuinfo:
            model = next(
                (ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), ""
            )
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(memory_gb, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_seconds() -> tuple[float, float]:
    """CPU time (user + system) used so far by this process and by its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


@contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    result: list[float] = []
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.append(time.perf_counter() - start)


def report(name: str, figures: dict[str, float | int]) -> None:
    """Print the machine, the figures, and the figures again as the last line (JSON)."""
    print(f"== {name}")
    for key, value in machine_facts().items():
        print(f"{key:>12}: {value}")
    for key, value in figures.items():
        print(f"{key:>24}: {value}")
    sys.stdout.flush()
    print(json.dumps(figures, sort_keys=True))
