"""Reading and checking an import file, in a process of its own when it is large.

Checking rows (CSV, addresses, properties, keyed hashes) is Python work on
one core; writing them is mostly the database's. For a large file a child
process reads and checks while the importing process writes the previous
batch, so both cores work. The child gets its plan on stdin and sends back
each checked batch on stdout as a length-prefixed `marshal` frame of plain
tuples (marshal: built-in types only, nothing executable, fast). A full pipe
stops the child, so memory stays at about two batches whatever the file
size. Small files are checked in the importing process: starting a process
costs more than it saves there.

Run as ``python -m courriel.audience.import_reader`` by `checked_batches`
only; it loads neither SQLAlchemy nor the application.
"""

from __future__ import annotations

import itertools
import marshal
import os
import subprocess
import sys
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import courriel
from courriel.audience.import_rows import CheckedBatch, PropertySpec, RowChecker
from courriel.audience.tabular import FileRows, ReadLimits
from courriel.audience.values import PropertyKind
from courriel.core.errors import CourrielError, InvalidInputError

_LENGTH = 8  # bytes of a frame's length prefix


@dataclass(frozen=True)
class ReadPlan:
    """What to read and how to check it."""

    path: Path
    limits: ReadLimits
    columns: dict[int, str]
    properties: dict[str, PropertySpec]
    hash_key: bytes
    batch_rows: int

    def encode(self) -> bytes:
        """The plan as marshal data, for the child's stdin."""
        limits = self.limits
        return marshal.dumps(
            (
                str(self.path),
                (
                    limits.max_file_bytes,
                    limits.max_line_bytes,
                    limits.max_columns,
                    limits.max_xlsx_bytes,
                ),
                self.columns,
                {n: (s.kind.value, tuple(s.choices)) for n, s in self.properties.items()},
                self.hash_key,
                self.batch_rows,
            )
        )

    @classmethod
    def decode(cls, data: bytes) -> ReadPlan:
        """The plan `encode` wrote."""
        path, limits, columns, properties, hash_key, batch_rows = marshal.loads(data)  # noqa: S302 - written by our parent process
        return cls(
            path=Path(path),
            limits=ReadLimits(*limits),
            columns=columns,
            properties={
                name: PropertySpec(PropertyKind(kind), choices)
                for name, (kind, choices) in properties.items()
            },
            hash_key=hash_key,
            batch_rows=batch_rows,
        )


def check_here(plan: ReadPlan) -> Generator[CheckedBatch]:
    """The checked batches of the file (after its header), checked in this process."""
    checker = RowChecker(plan.columns, plan.properties, plan.hash_key)
    rows = iter(FileRows(plan.path, plan.limits))
    next(rows, None)  # the header, mapped by the caller
    while batch := list(itertools.islice(rows, plan.batch_rows)):
        yield checker.check(batch)


def check_in_child(plan: ReadPlan) -> Generator[CheckedBatch]:
    """The same batches as `check_here`, checked by a child process while the caller writes."""
    package_root = str(Path(courriel.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    child = subprocess.Popen(
        [sys.executable, "-m", "courriel.audience.import_reader"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        child.stdin.write(plan.encode())
        child.stdin.close()
        while True:
            frame = _read_frame(child.stdout)
            if frame is None:
                code = child.wait()
                raise CourrielError(f"the file could not be read: its reader stopped (exit {code})")
            kind = frame[0]
            if kind == "done":
                return
            if kind == "error":
                raise InvalidInputError(frame[1], frame[2])
            yield CheckedBatch(rows=frame[1], rejected=frame[2], read=frame[3])
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
        child.wait()


def _write_frame(out: IO[bytes], frame: tuple[Any, ...]) -> None:
    data = marshal.dumps(frame)
    out.write(len(data).to_bytes(_LENGTH, "little"))
    out.write(data)


def _read_frame(stream: IO[bytes]) -> tuple[Any, ...] | None:
    head = stream.read(_LENGTH)
    if len(head) < _LENGTH:
        return None
    size = int.from_bytes(head, "little")
    data = stream.read(size)
    if len(data) < size:
        return None
    frame: tuple[Any, ...] = marshal.loads(data)  # noqa: S302 - written by our child process
    return frame


def main() -> None:
    """The child: read the plan, send back every batch, then "done" or the file's error."""
    plan = ReadPlan.decode(sys.stdin.buffer.read())
    out = sys.stdout.buffer
    try:
        for batch in check_here(plan):
            _write_frame(out, ("batch", batch.rows, batch.rejected, batch.read))
        _write_frame(out, ("done",))
    except InvalidInputError as exc:
        _write_frame(out, ("error", exc.field, exc.reason))
    except BrokenPipeError:
        # The importing process stopped reading (it failed or was stopped).
        os._exit(1)
    out.flush()


if __name__ == "__main__":
    main()
