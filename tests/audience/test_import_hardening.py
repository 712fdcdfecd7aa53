"""Issue 18 items 2, 8 and 11: bad files and other tenants' imports, each a clear error."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pytest
from fastapi.testclient import TestClient

from courriel.audience.importer import ImportRequest
from courriel.audience.models import PropertyKind
from courriel.core.errors import InvalidInputError
from courriel.services import Services
from tests.support.tenants import TenantAccess


def _setup(services: Services, who: TenantAccess) -> str:
    services.audience.properties.define(
        who.operator, "country", PropertyKind.CHOICE, ["FR", "DE", "BE"]
    )
    return services.audience.create_list(who.operator, "News", "Our news", double_opt_in=False).id


def test_rejection_report_of_an_unknown_or_other_tenants_import_is_404(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    list_id = _setup(services, tenant_a)
    response = client.post(
        f"/v1/lists/{list_id}/imports",
        files={"file": ("people.csv", b"email\nbad@@example.com\n", "text/csv")},
        data={"legal_basis": "consent", "source": "event"},
        headers=tenant_a.headers,
    )
    assert response.status_code == 202, response.text
    import_id = response.json()["id"]
    for who, wanted in ((tenant_b, import_id), (tenant_a, "imp_unknown")):
        report = client.get(f"/v1/imports/{wanted}/rejections.csv", headers=who.headers)
        assert report.status_code == 404, report.text
        assert report.headers["content-type"] == "application/problem+json"
        assert "line,reason" not in report.text
    own = client.get(f"/v1/imports/{import_id}/rejections.csv", headers=tenant_a.headers)
    assert own.status_code == 200
    assert own.text.splitlines()[1].startswith("2,")


_SST = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def _bomb(path: Path, strings: int, size: int) -> Path:
    """A valid workbook whose shared strings are `strings` strings of `size` bytes each.

    openpyxl writes inline strings: its workbook is taken as the frame, the
    sheet made to use shared strings, and the shared strings part written here.
    """
    book = openpyxl.Workbook()
    plain = path.with_suffix(".plain.xlsx")
    book.save(plain)
    parts: dict[str, bytes] = {}
    with zipfile.ZipFile(plain) as source:
        for info in source.infolist():
            parts[info.filename] = source.read(info)
    plain.unlink()
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_SST}"/></Types>'.encode(),
    )
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        f'<Relationship Type="{_REL}" Target="sharedStrings.xml" Id="rId9"/>'.encode()
        + b"</Relationships>",
    )
    cells = "".join(
        f'<row r="{r}"><c r="A{r}" t="s"><v>{a}</v></c><c r="B{r}" t="s"><v>{b}</v></c></row>'
        for r, a, b in ((1, 0, 1), (2, 2, 3))
    )
    parts["xl/worksheets/sheet1.xml"] = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{cells}</sheetData></worksheet>"
    ).encode()
    head = (
        b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.'
        b'openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">'
        b"<si><t>email</t></si><si><t>note</t></si><si><t>bomb@example.com</t></si>"
        % (strings + 3, strings + 3)
    )
    one = b"<si><t>" + b"A" * size + b"</t></si>"
    # Deflate each repeated string once: after a full flush the compressor
    # starts afresh, so the same input gives the same bytes, which are repeated.
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)
    repeated = deflate.compress(one) + deflate.flush(zlib.Z_FULL_FLUSH)
    data = start + repeated * strings + deflate.compress(b"</sst>") + deflate.flush()
    crc = zlib.crc32(head)
    for _ in range(strings):
        crc = zlib.crc32(one, crc)
    crc = zlib.crc32(b"</sst>", crc)
    inflated = len(head) + len(one) * strings + len(b"</sst>")
    entries = [_deflated(name, content) for name, content in parts.items()]
    entries.append(("xl/sharedStrings.xml", data, crc, inflated))
    _write_zip(path, entries)
    return path


def _deflated(name: str, content: bytes) -> tuple[str, bytes, int, int]:
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    return name, deflate.compress(content) + deflate.flush(), zlib.crc32(content), len(content)


def _write_zip(path: Path, entries: list[tuple[str, bytes, int, int]]) -> None:
    """A zip of already deflated parts (zipfile only deflates what it is given whole)."""
    central = b""
    with path.open("wb") as out:
        for name, data, crc, size in entries:
            encoded = name.encode()
            offset = out.tell()
            fields = (20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded))
            out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + encoded + data)
            central += (
                struct.pack("<IH", 0x02014B50, 20)
                + struct.pack("<HHHHHIIIHHHHHII", *fields, 0, 0, 0, 0, 0, offset)
                + encoded
            )
        start = out.tell()
        out.write(central)
        count = len(entries)
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), start, 0))


# Reads the file as an import does, in a process of its own, and reports the
# error and how far the process's peak memory rose above what it started with.
_MEASURE = """
import json, resource, sys
from pathlib import Path
from courriel.audience.tabular import FileRows, ReadLimits
from courriel.core.errors import InvalidInputError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
error = None
try:
    for _ in FileRows(Path(sys.argv[1]), ReadLimits()):
        pass
except InvalidInputError as exc:
    error = str(exc)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"error": error, "peak_kib": after - before}))
"""


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The attack: 1,000 shared strings of 1 MiB in a file of about 1 MB."""
    return _bomb(tmp_path_factory.mktemp("bomb") / "bomb.xlsx", 1000, 1024 * 1024)


@pytest.mark.parametrize(
    ("strings", "size", "reason"),
    [
        (1000, 1024 * 1024, "inflates to more than"),
        # Small in total, but one cell larger than any line of a CSV may be.
        (1, 3 * 1024 * 1024, "longer than"),
    ],
)
def test_an_xlsx_bomb_is_refused_while_streaming_with_bounded_memory(
    tmp_path: Path, bomb: Path, strings: int, size: int, reason: str
) -> None:
    path = bomb if strings == 1000 else _bomb(tmp_path / "cell.xlsx", strings, size)
    assert path.stat().st_size < 2 * 1024 * 1024
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    outcome = json.loads(measured.stdout)
    assert outcome["error"] is not None
    assert reason in outcome["error"]
    # Less than a tenth of what the strings inflate to, and far below it.
    assert outcome["peak_kib"] < 64 * 1024, outcome


def test_an_xlsx_bomb_fails_the_import_clearly_and_stores_nothing(
    services: Services, tenant_a: TenantAccess, bomb: Path, tmp_path: Path
) -> None:
    list_id = _setup(services, tenant_a)
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(bomb.read_bytes())
    request = ImportRequest(
        list_id=list_id, file_name=path.name, legal_basis="consent", source="event"
    )
    imports = services.audience.imports
    with pytest.raises(InvalidInputError, match="inflates to more than") as refused:
        imports.run(
            tenant_a.operator, imports.start(tenant_a.operator, request, path), request, path
        )
    assert refused.value.field == "file"
    assert services.audience.list_contacts(tenant_a.operator, None, 10).items == []


def _run_import(services: Services, who: TenantAccess, list_id: str, path: Path):  # type: ignore[no-untyped-def]
    request = ImportRequest(
        list_id=list_id, file_name=path.name, legal_basis="consent", source="event"
    )
    imports = services.audience.imports
    return imports.run(who.operator, imports.start(who.operator, request, path), request, path)


def _reasons(services: Services, who: TenantAccess, import_id: str) -> dict[int, str]:
    rows = services.audience.imports.all_rejections(who.operator, import_id)
    return {r.line: r.reason for r in rows}


def _names(services: Services, who: TenantAccess) -> dict[str, str | None]:
    contacts = services.audience.list_contacts(who.operator, None, 50).items
    return {c.email: c.last_name for c in contacts}


@pytest.mark.parametrize("reader", ["in-process", "child-process"])
def test_rows_in_another_encoding_than_the_files_utf8_are_row_errors(
    services: Services, tenant_a: TenantAccess, tmp_path: Path, reader: str
) -> None:
    if reader == "child-process":
        services.audience.imports.parallel_from_bytes = 0
    list_id = _setup(services, tenant_a)
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        b"email,last_name\n"
        + "zoe@example.com,Loïc\n".encode()  # line 2: UTF-8
        + b"hans@example.com,M\xfcller\n"  # line 3: Windows-1252
        + "ana@example.com,Müller\n".encode()  # line 4: UTF-8 again
        + b"jo@example.com,Jos\xe9 \xe0 c\xf4t\xe9\n"  # line 5: Windows-1252
    )
    job = _run_import(services, tenant_a, list_id, path)
    assert (job.rows_read, job.imported, job.rejected) == (4, 2, 2)
    assert _names(services, tenant_a) == {"zoe@example.com": "Loïc", "ana@example.com": "Müller"}
    reasons = _reasons(services, tenant_a, job.id)
    assert sorted(reasons) == [3, 5]
    assert all("UTF-8" in reason for reason in reasons.values())


def test_a_file_wholly_in_windows_1252_still_imports(
    services: Services, tenant_a: TenantAccess, tmp_path: Path
) -> None:
    list_id = _setup(services, tenant_a)
    path = tmp_path / "legacy.csv"
    path.write_bytes(b"email,last_name\nhans@example.com,M\xfcller\njo@example.com,Jos\xe9\n")
    job = _run_import(services, tenant_a, list_id, path)
    assert (job.imported, job.rejected) == (2, 0)
    assert _names(services, tenant_a) == {"hans@example.com": "Müller", "jo@example.com": "José"}


@pytest.mark.parametrize(
    "tail",
    [b"", b'carl@example.com,"Carl"\ndan@example.com,Dan\n'],
    ids=["to-the-end", "to-the-next-quote"],
)
def test_an_unterminated_quote_that_swallows_rows_is_a_row_error(
    services: Services, tenant_a: TenantAccess, tmp_path: Path, tail: bytes
) -> None:
    list_id = _setup(services, tenant_a)
    path = tmp_path / "quote.csv"
    path.write_bytes(
        b"email,last_name,notes\n"
        b'ana@example.com,Ana,"met at the fair\nlikes tea"\n'  # lines 2-3: a real multi-line note
        b'bob@example.com,"Bob\n'  # line 4: the quote is never closed
        b"eve@example.com,Eve\n" + tail
    )
    job = _run_import(services, tenant_a, list_id, path)
    reasons = _reasons(services, tenant_a, job.id)
    assert 4 in reasons, reasons
    assert "quote" in reasons[4]
    names = _names(services, tenant_a)
    assert "ana@example.com" in names
    assert "bob@example.com" not in names
