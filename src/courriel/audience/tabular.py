"""Reading contact files (CSV, XLSX) as a stream of rows, within stated limits.

CSV is read in 64 KiB chunks and handed to the `csv` module a line at a
time, so memory stays bounded whatever the file size. The encoding is taken
from the byte-order mark (UTF-8, UTF-16) or, without one, from the first
64 KiB: a file that shows UTF-8 there (valid UTF-8, or any UTF-8 multi-byte
sequence) is UTF-8, and a line of it that is not valid UTF-8 (a row pasted
from a Windows-1252 export) becomes a row error rather than mojibake; a file
that shows none is read in the legacy encoding guessed for it (Windows-1252
in practice). Line ends may be CRLF, LF or CR, and quoted fields may span
lines (RFC 4180 §2.6); a quoted field that swallows what looks like further
rows (an unterminated quote) is a row error too.

An XLSX file is a zip of XML parts that calamine inflates and reads whole,
so its compressed size says little (1,000 shared strings of 1 MiB fit in
1 MB). Before calamine sees it, every part is inflated here as a stream,
64 KiB at a time: the parts together may not inflate beyond
`max_xlsx_inflated_bytes` (declared sizes are checked first, and actual
sizes are counted, so a lying header does not help), and each shared string
or inline cell may not be longer than a CSV line may be. Calamine then
works on at most that much XML.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from pyexpat import ExpatError, ParserCreate

from charset_normalizer import from_bytes
from python_calamine import CalamineWorkbook

from courriel.core.errors import InvalidInputError

CHUNK = 65_536
# The "legacy encoding" of a UTF-8 file: a line that is not UTF-8 is a row error.
UTF8_ONLY = "utf-8-only"
XLSX_MAGIC = b"PK\x03\x04"
DELIMITERS = ",;\t|"
# Line breaks of str.splitlines other than CR and LF.
_OTHER_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# One UTF-8 multi-byte sequence: its presence makes a file UTF-8.
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")
# What a line that could not be decoded carries in place of its bad bytes.
_UNDECODABLE = "\ufffd"


class BadRow(list[str]):
    """A row the reader could not take as it is: rejected with `reason`, not stored."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what an import reads; each breach is a clear error naming the file."""

    max_file_bytes: int = 200 * 1024 * 1024
    max_line_bytes: int = 1024 * 1024
    max_columns: int = 200
    # A spreadsheet is decompressed and read whole by calamine: its own, lower bound.
    max_xlsx_bytes: int = 20 * 1024 * 1024
    # … and what its parts may inflate to, together (calamine holds that much).
    max_xlsx_inflated_bytes: int = 64 * 1024 * 1024


class FileRows:
    """The rows of one file: `(line number, cells)`, the header first."""

    def __init__(self, path: Path, limits: ReadLimits) -> None:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise InvalidInputError(
                "file", f"the file is {size} bytes; the limit is {limits.max_file_bytes} bytes"
            )
        if size == 0:
            raise InvalidInputError("file", "the file is empty")
        self._path = path
        self._limits = limits
        with path.open("rb") as head:
            self._is_xlsx = head.read(4) == XLSX_MAGIC
        if self._is_xlsx and size > limits.max_xlsx_bytes:
            raise InvalidInputError(
                "file",
                f"the spreadsheet is {size} bytes; the limit is {limits.max_xlsx_bytes} bytes "
                "(export it as CSV to import more)",
            )

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        rows = self._xlsx_rows() if self._is_xlsx else self._csv_rows()
        for line, cells in rows:
            if len(cells) > self._limits.max_columns:
                raise InvalidInputError(
                    "file",
                    f"line {line} has {len(cells)} columns; the limit is "
                    f"{self._limits.max_columns}",
                )
            yield line, cells

    # CSV ---------------------------------------------------------------------

    def _csv_rows(self) -> Iterator[tuple[int, list[str]]]:
        with self._path.open("rb") as stream:
            sample = stream.read(CHUNK)
            stream.seek(0)
            lines = self._text_lines(stream, sample)
            first = list(_take(lines, 20))
            dialect = _sniff("".join(first)[:CHUNK])
            source = _chain(first, lines)
            csv.field_size_limit(self._limits.max_line_bytes)
            reader = csv.reader(source, dialect)
            start = 1
            try:
                for cells in reader:
                    if cells:
                        yield start, _checked(cells, start, reader.line_num, dialect.delimiter)
                    start = reader.line_num + 1
            except csv.Error as exc:
                raise InvalidInputError(
                    "file", f"line {start}: the CSV cannot be read ({exc})"
                ) from None

    def _text_lines(self, stream: io.BufferedReader, sample: bytes) -> Iterator[str]:
        if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return self._wide_lines(stream, "utf-16")
        if sample.startswith(codecs.BOM_UTF8):
            stream.read(len(codecs.BOM_UTF8))
            return self._narrow_lines(stream, UTF8_ONLY)
        if b"\x00" in sample:
            guess = from_bytes(sample).best()
            encoding = guess.encoding if guess is not None else "utf-16-le"
            return self._wide_lines(stream, encoding)
        try:
            sample.decode("utf-8")
            legacy = UTF8_ONLY
        except UnicodeDecodeError as exc:
            # A cut multi-byte sequence at the end of the sample is still
            # UTF-8, and so is a sample with UTF-8 in it besides other bytes
            # (a mixed file: its other lines become row errors).
            utf8 = exc.start >= len(sample) - 3 or _UTF8_SEQUENCE.search(sample) is not None
            legacy = UTF8_ONLY if utf8 else _legacy(sample)
        return self._narrow_lines(stream, legacy)

    def _narrow_lines(self, stream: io.BufferedReader, legacy: str) -> Iterator[str]:
        return itertools.chain.from_iterable(self._narrow_chunks(stream, legacy))

    def _narrow_chunks(self, stream: io.BufferedReader, legacy: str) -> Iterator[list[str]]:
        # The complete lines of each chunk are decoded and split together: a
        # million-row file would otherwise spend more time here than in csv.
        limit = self._limits.max_line_bytes
        pending = b""
        number = 0  # lines ("\n") before `pending`
        while chunk := stream.read(CHUNK):
            data = pending + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > limit:
                    raise _too_long(number + 1, limit)
                pending = data
                continue
            whole, pending = data[:cut], data[cut:]
            if len(whole) > limit:
                _check_lengths(whole, number, limit)
            yield _lines(whole, legacy)
            number += whole.count(b"\n")
            if len(pending) > limit:
                raise _too_long(number + 1, limit)
        if pending:
            yield list(_split_ends(_decode(pending, legacy)))

    def _wide_lines(self, stream: io.BufferedReader, encoding: str) -> Iterator[str]:
        limit = self._limits.max_line_bytes // 2
        text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline=None)
        number = 0
        while line := text.readline(limit + 1):
            number += 1
            if len(line) > limit:
                raise _too_long(number, self._limits.max_line_bytes)
            yield line.removeprefix("\ufeff") if number == 1 else line

    # XLSX --------------------------------------------------------------------

    def _xlsx_rows(self) -> Iterator[tuple[int, list[str]]]:
        # Calamine reads a sheet in Rust, whole: the inflated size bounds its memory.
        _check_xlsx(self._path, self._limits)
        try:
            workbook = CalamineWorkbook.from_path(str(self._path))
            sheet = workbook.get_sheet_by_index(0)
            rows = sheet.iter_rows()
        except Exception as exc:  # noqa: BLE001 - calamine raises its own error types
            raise InvalidInputError("file", f"the spreadsheet cannot be read ({exc})") from None
        for index, row in enumerate(rows, start=1):
            cells = [_cell(value) for value in row]
            if any(cells):
                yield index, cells


def _check_xlsx(path: Path, limits: ReadLimits) -> None:
    """Inflate every part of a workbook as a stream; refuse it beyond the limits."""
    budget = limits.max_xlsx_inflated_bytes
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            declared = sum(member.file_size for member in members)
            if declared > budget:
                raise _inflates(budget)
            for member in members:
                cells = (
                    _CellLengths(limits.max_line_bytes)
                    if member.filename.endswith(".xml")
                    else None
                )
                with archive.open(member) as part:
                    while chunk := part.read(CHUNK):
                        budget -= len(chunk)
                        if budget < 0:
                            raise _inflates(limits.max_xlsx_inflated_bytes)
                        if cells is not None:
                            cells.feed(chunk, member.filename)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ExpatError) as exc:
        raise InvalidInputError("file", f"the spreadsheet cannot be read ({exc})") from None


def _inflates(limit: int) -> InvalidInputError:
    return InvalidInputError(
        "file",
        f"the spreadsheet inflates to more than {limit} bytes (export it as CSV to import more)",
    )


class _CellLengths:
    """Counts the text of each XML element without keeping it; refuses a long one.

    Shared strings (`<si>`), inline strings and values hold their text in
    `<t>` and `<v>` elements; no cell may be longer than a CSV line. A
    document type declaration (entity tricks) is refused outright.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._length = 0
        self._part = ""
        self._parser = ParserCreate()
        self._parser.buffer_text = False
        self._parser.StartElementHandler = self._start
        self._parser.CharacterDataHandler = self._text
        self._parser.StartDoctypeDeclHandler = self._doctype

    def feed(self, chunk: bytes, part: str) -> None:
        self._part = part
        self._parser.Parse(chunk, False)  # noqa: FBT003 - pyexpat takes no keywords

    def _start(self, _name: str, _attributes: dict[str, str]) -> None:
        self._length = 0

    def _text(self, data: str) -> None:
        self._length += len(data)
        if self._length > self._limit:
            raise InvalidInputError(
                "file",
                f"a cell of the spreadsheet ({self._part}) is longer than {self._limit} characters",
            )

    def _doctype(self, *_args: object) -> None:
        raise InvalidInputError("file", "the spreadsheet declares a document type")


def _cell(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return "" if value is None else str(value)


def _check_lengths(whole: bytes, before: int, limit: int) -> None:
    for index, line in enumerate(whole.split(b"\n")[:-1], start=1):
        if len(line) + 1 > limit:
            raise _too_long(before + index, limit)


def _lines(whole: bytes, legacy: str) -> list[str]:
    """Complete lines (each ending in "\n"), decoded and with their ends made "\n"."""
    try:
        text = whole.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or _OTHER_BREAKS.search(text) is not None:
        # A row in another encoding, or a line break other than CR and LF
        # inside a line: line by line, as each line decides for itself.
        return [piece for line in _split_lf(whole) for piece in _split_ends(_decode(line, legacy))]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.splitlines(keepends=True)


def _split_lf(whole: bytes) -> list[bytes]:
    lines = whole.split(b"\n")
    return [line + b"\n" for line in lines[:-1]]


def _decode(raw: bytes, legacy: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        if legacy == UTF8_ONLY:
            # Marked, and the row is rejected by `_checked`: never mojibake.
            return raw.decode("utf-8", errors="replace")
        return raw.decode(legacy, errors="replace")


def _checked(cells: list[str], start: int, end: int, delimiter: str) -> list[str]:
    """`cells`, or a BadRow saying why the row cannot be taken as it reads."""
    if any(_UNDECODABLE in cell for cell in cells):
        return BadRow(
            f"line {start} is not valid UTF-8 while the file is UTF-8 (a row in another "
            "encoding, such as Windows-1252?): save the file as UTF-8 and import it again"
        )
    if end > start:
        for cell in cells:
            # A field spanning lines is fine (RFC 4180); one whose later lines
            # look like rows of their own swallowed them.
            later = cell.split("\n")[1:]
            if any(delimiter in line and "@" in line for line in later):
                return BadRow(
                    f"lines {start} to {end}: a quoted field runs over what look like other "
                    "rows (is a closing quote missing?); none of them was imported"
                )
    return cells


def _split_ends(text: str) -> Iterator[str]:
    # CRLF and a lone CR both end a line; the csv module wants "\n".
    if "\r" not in text:
        yield text
        return
    yield from text.replace("\r\n", "\n").replace("\r", "\n").splitlines(keepends=True)


def _legacy(sample: bytes) -> str:
    guess = from_bytes(sample).best()
    if guess is None or guess.encoding in ("utf_8", "ascii"):
        return "cp1252"
    return guess.encoding


def _sniff(sample: str) -> type[csv.Dialect]:
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
    except csv.Error:
        return csv.excel

    class Sniffed(csv.excel):
        delimiter = sniffed.delimiter

    return Sniffed


def _too_long(number: int, limit: int) -> InvalidInputError:
    return InvalidInputError("file", f"line {number} is longer than {limit} bytes")


def _take(lines: Iterator[str], count: int) -> Iterator[str]:
    for _ in range(count):
        line = next(lines, None)
        if line is None:
            return
        yield line


def _chain(first: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from first
    yield from rest
