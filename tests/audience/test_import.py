"""Importing CSV and XLSX files: encodings, line ends, limits, dedupe, consent and re-runs."""

from __future__ import annotations

import codecs
import os
from dataclasses import replace
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from courriel.audience import import_batch, importer
from courriel.audience.importer import ImportRequest
from courriel.audience.models import ConsentRecord, ConsentSource, ImportStatus, PropertyKind
from courriel.audience.service import ConsentInput, ContactInput
from courriel.audience.tabular import ReadLimits
from courriel.core.errors import ForbiddenError, InvalidInputError, NotFoundError
from courriel.core.principal import Principal
from courriel.services import Services
from tests.support.tenants import TenantAccess


def _setup(services: Services, who: TenantAccess) -> str:
    services.audience.properties.define(
        who.operator, "country", PropertyKind.CHOICE, ["FR", "DE", "BE"]
    )
    lst = services.audience.create_list(who.operator, "News", "Our news", double_opt_in=False)
    return lst.id


def _import(services: Services, who: TenantAccess, list_id: str, path: Path, **extra: object):  # type: ignore[no-untyped-def]
    request = ImportRequest(
        list_id=list_id,
        file_name=path.name,
        legal_basis=str(extra.pop("legal_basis", "consent")),
        source=str(extra.pop("source", "customers")),
        **extra,  # type: ignore[arg-type]
    )
    imports = services.audience.imports
    job = imports.start(who.operator, request, path)
    return imports.run(who.operator, job, request, path)


def _rejections(services: Services, who: TenantAccess, import_id: str) -> dict[int, str]:
    rows = services.audience.imports.all_rejections(who.operator, import_id)
    return {r.line: r.reason for r in rows}


def _emails(services: Services, who: TenantAccess) -> set[str]:
    page = services.audience.list_contacts(who.operator, None, 500)
    return {c.email for c in page.items}


@pytest.mark.parametrize("reader", ["in-process", "child-process"])
def test_bom_mixed_line_ends_windows_1252_quoted_newlines_and_bad_rows(
    services: Services, tenant_a: TenantAccess, tmp_path: Path, reader: str
) -> None:
    if reader == "child-process":
        # Large files are read and checked by a child process; this one too.
        services.audience.imports.parallel_from_bytes = 0
    list_id = _setup(services, tenant_a)
    data = (
        codecs.BOM_UTF8
        + b"email;first_name;country;notes\r\n"  # line 1: header, semicolons
        + b"ana@example.com;Ana;FR;\n"  # line 2
        + b'bob@example.com;Bob;DE;"met at the fair\nlikes tea"\r\n'  # lines 3-4
        # line 5: a Windows-1252 row in a UTF-8 file, CR ending: a row error, not mojibake
        + b"jose@example.com;Jos\xe9;BE;\r"
        + b"bad..dots@example.com;X;FR;\n"  # line 6
        + b"eve@example.com;Eve;US;\n"  # line 7: not a choice
        + b"ANA@EXAMPLE.COM;Ana;FR;\n"  # line 8: Ana again (addresses ignore case)
        + b"ana@Example.Com;Ana;FR;\n"  # line 9: duplicate of line 2
        + b"mal@example.com;<script>alert(1)</script>;FR;\n"  # line 10
        + b";nobody;FR;\n"  # line 11
        + "zoë@example.com;Zoë;FR;\n".encode()  # line 12: UTF-8 again
    )
    path = tmp_path / "people.csv"
    path.write_bytes(data)
    job = _import(services, tenant_a, list_id, path)
    assert job.status is ImportStatus.DONE
    assert (job.rows_read, job.imported, job.rejected) == (10, 3, 7)
    contacts = services.audience.list_contacts(tenant_a.operator, None, 50).items
    names = {c.email: c.first_name for c in contacts}
    assert names == {
        "ana@example.com": "Ana",
        "bob@example.com": "Bob",
        "zoë@example.com": "Zoë",
    }
    reasons = _rejections(services, tenant_a, job.id)
    assert sorted(reasons) == [5, 6, 7, 8, 9, 10, 11]
    assert "not valid UTF-8" in reasons[5]
    assert "duplicate" in reasons[8]
    assert "period" in reasons[6]
    assert "one of" in reasons[7]
    assert "duplicate" in reasons[9]
    assert "markup" in reasons[10]
    assert "empty" in reasons[11]


def test_utf16_and_xlsx_files(services: Services, tenant_a: TenantAccess, tmp_path: Path) -> None:
    list_id = _setup(services, tenant_a)
    wide = tmp_path / "wide.csv"
    wide.write_bytes("email\tcountry\r\nwide@example.com\tFR\r\n".encode("utf-16"))
    assert _import(services, tenant_a, list_id, wide).imported == 1
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["E-mail", "Country"])
    sheet.append(["sheet@example.com", "DE"])
    sheet.append(["not an address", "DE"])
    xlsx = tmp_path / "people.xlsx"
    book.save(xlsx)
    job = _import(services, tenant_a, list_id, xlsx)
    assert (job.imported, job.rejected) == (1, 1)
    assert _rejections(services, tenant_a, job.id).keys() == {3}
    assert {"wide@example.com", "sheet@example.com"} <= _emails(services, tenant_a)
    services.audience.imports.limits = ReadLimits(max_xlsx_bytes=100)
    with pytest.raises(InvalidInputError, match="export it as CSV"):
        _import(services, tenant_a, list_id, xlsx)


def test_unsubscribed_and_suppressed_addresses_are_never_resubscribed(
    services: Services, tenant_a: TenantAccess, tmp_path: Path
) -> None:
    list_id = _setup(services, tenant_a)
    consent = ConsentInput(source=ConsentSource.API, purpose_text="news")
    gone = services.audience.subscribe(
        tenant_a.operator, ContactInput(email="gone@example.com"), [list_id], consent
    )
    services.audience.unsubscribe(tenant_a.operator, gone.contact.id, list_id, ConsentSource.API)
    services.audience.suppressions.add(tenant_a.operator, "blocked@example.com")
    path = tmp_path / "again.csv"
    path.write_text("email\ngone@example.com\nblocked@example.com\nnew@example.com\n")
    job = _import(services, tenant_a, list_id, path)
    assert (job.imported, job.rejected) == (1, 2)
    reasons = _rejections(services, tenant_a, job.id)
    assert "unsubscribed" in reasons[2]
    assert "suppressed" in reasons[3]
    assert services.audience.subscriptions_of(tenant_a.operator, gone.contact.id) == {
        list_id: "unsubscribed"
    }
    assert "blocked@example.com" not in _emails(services, tenant_a)


def test_duplicates_across_batches_are_found_without_remembering_the_file(
    services: Services, tenant_a: TenantAccess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two rows a batch: every repeat below is in a later batch than its first row.
    monkeypatch.setattr(importer, "BATCH", 2)
    list_id = _setup(services, tenant_a)
    consent = ConsentInput(source=ConsentSource.API, purpose_text="news")
    services.audience.subscribe(
        tenant_a.operator, ContactInput(email="known@example.com"), [list_id], consent
    )
    path = tmp_path / "repeats.csv"
    path.write_text(
        "email,country\n"
        "a@example.com,FR\n"  # line 2
        "known@example.com,FR\n"  # line 3: already on the list
        "b@example.com,DE\n"  # line 4
        "A@EXAMPLE.COM,FR\n"  # line 5: line 2 again (addresses ignore case)
        "a@Example.com,BE\n"  # line 6: line 2 again
        "b@example.com,DE\n"  # line 7: line 4 again
        "c@example.com,XX\n"  # line 8: not a choice
        "c@example.com,FR\n"  # line 9: imported, its first row was rejected
    )
    job = _import(services, tenant_a, list_id, path)
    assert (job.rows_read, job.imported, job.unchanged, job.rejected) == (8, 3, 1, 4)
    reasons = _rejections(services, tenant_a, job.id)
    assert sorted(reasons) == [5, 6, 7, 8]
    assert "duplicate" in reasons[5]
    assert "duplicate" in reasons[6]
    assert "duplicate" in reasons[7]
    contacts = services.audience.list_contacts(tenant_a.operator, None, 50).items
    assert {c.email: c.properties.get("country") for c in contacts} == {
        "known@example.com": None,
        "a@example.com": "FR",
        "b@example.com": "DE",
        "c@example.com": "FR",
    }
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        imported = session.scalar(
            select(func.count())
            .select_from(ConsentRecord)
            .where(ConsentRecord.source == ConsentSource.IMPORT)
        )
    assert imported == 3


def test_rerunning_the_same_file_changes_nothing(
    services: Services, tenant_a: TenantAccess, tmp_path: Path
) -> None:
    list_id = _setup(services, tenant_a)
    path = tmp_path / "people.csv"
    path.write_text("email,country\na@example.com,FR\nb@example.com,DE\n")
    first = _import(services, tenant_a, list_id, path)
    again = _import(services, tenant_a, list_id, path)
    assert again.id == first.id
    assert again.imported == 2
    copy = tmp_path / "copy.csv"
    copy.write_text("email,country\nb@example.com,DE\na@example.com,FR\n")
    third = _import(services, tenant_a, list_id, copy)
    assert (third.imported, third.unchanged) == (0, 2)
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        assert session.scalar(select(func.count()).select_from(ConsentRecord)) == 2


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("purchased-list", "purchased or rented"),
        ("rented-list", "purchased or rented"),
        ("x", "one of"),
    ],
)
def test_declared_source_is_required_and_bought_lists_refused(
    services: Services, tenant_a: TenantAccess, tmp_path: Path, source: str, words: str
) -> None:
    list_id = _setup(services, tenant_a)
    path = tmp_path / "p.csv"
    path.write_text("email\na@example.com\n")
    with pytest.raises(InvalidInputError, match=words) as caught:
        _import(services, tenant_a, list_id, path, source=source)
    assert caught.value.field == "source"
    assert _emails(services, tenant_a) == set()


@pytest.mark.parametrize("reader", ["in-process", "child-process"])
def test_a_100_mb_line_and_100_000_columns_fail_clearly_keeping_what_was_stored(
    services: Services, tenant_a: TenantAccess, tmp_path: Path, reader: str
) -> None:
    if reader == "child-process":
        services.audience.imports.parallel_from_bytes = 0
    list_id = _setup(services, tenant_a)
    kept = tmp_path / "kept.csv"
    kept.write_text("email\nkept@example.com\n")
    _import(services, tenant_a, list_id, kept)
    long_line = tmp_path / "long.csv"
    with long_line.open("wb") as out:
        out.write(b"email\n")
        for _ in range(100):
            out.write(b"x" * (1024 * 1024))
        out.write(b"\n")
    with pytest.raises(InvalidInputError, match="line 2 is longer than"):
        _import(services, tenant_a, list_id, long_line)
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(100_000)) + "\n")
    with pytest.raises(InvalidInputError, match="100000 columns; the limit is 200"):
        _import(services, tenant_a, list_id, wide)
    assert _emails(services, tenant_a) == {"kept@example.com"}


def test_size_limit_missing_email_column_and_bad_mapping(
    services: Services, tenant_a: TenantAccess, tmp_path: Path
) -> None:
    list_id = _setup(services, tenant_a)
    path = tmp_path / "p.csv"
    path.write_text("mail address,name\na@example.com,A\n")
    with pytest.raises(InvalidInputError, match="no column is mapped to email"):
        _import(services, tenant_a, list_id, path)
    with pytest.raises(InvalidInputError, match="not a contact field") as caught:
        _import(services, tenant_a, list_id, path, mapping={"mail address": "shoe"})
    assert caught.value.field == "mapping.mail address"
    done = _import(
        services, tenant_a, list_id, path, mapping={"mail address": "email", "name": "first_name"}
    )
    assert done.imported == 1
    services.audience.imports.limits = ReadLimits(max_file_bytes=10)
    with pytest.raises(InvalidInputError, match="the limit is 10 bytes"):
        _import(services, tenant_a, list_id, path)


def test_imports_are_per_tenant(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess, tmp_path: Path
) -> None:
    list_id = _setup(services, tenant_a)
    path = tmp_path / "p.csv"
    path.write_text("email\na@example.com\n")
    job = _import(services, tenant_a, list_id, path)
    with pytest.raises(NotFoundError):
        services.audience.imports.get(tenant_b.operator, job.id)
    with pytest.raises(InvalidInputError, match="no list"):
        _import(services, tenant_b, list_id, path)
    reader = Principal(tenant_id=tenant_a.tenant.id, capabilities=frozenset(), actor="key:x")
    request = ImportRequest(list_id=list_id, file_name="p", legal_basis="consent", source="event")
    with pytest.raises(ForbiddenError):
        services.audience.imports.start(reader, request, path)


def test_import_over_http_with_progress_and_rejection_report(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    list_id = _setup(services, tenant_a)
    body = b"email,country\nok@example.com,FR\nbad@@example.com,FR\n"
    response = client.post(
        f"/v1/lists/{list_id}/imports",
        files={"file": ("people.csv", body, "text/csv")},
        data={"legal_basis": "consent", "source": "event"},
        headers=tenant_a.headers,
    )
    assert response.status_code == 202, response.text
    import_id = response.json()["id"]
    progress = client.get(f"/v1/imports/{import_id}", headers=tenant_a.headers).json()
    assert progress["status"] == "done"
    assert (progress["rows_read"], progress["imported"], progress["rejected"]) == (2, 1, 1)
    report = client.get(f"/v1/imports/{import_id}/rejections.csv", headers=tenant_a.headers)
    assert report.headers["content-type"].startswith("text/csv")
    assert report.text.splitlines()[0] == "line,reason"
    assert report.text.splitlines()[1].startswith("3,")
    refused = client.post(
        f"/v1/lists/{list_id}/imports",
        files={"file": ("people.csv", body, "text/csv")},
        data={"legal_basis": "consent", "source": "purchased-list"},
        headers=tenant_a.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "source"


def _readers_running() -> list[str]:
    """Child processes of this one running the import reader."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"PPid:\t{os.getpid()}\n" in status.read_text():
                cmdline = (status.parent / "cmdline").read_bytes()
                if b"import_reader" in cmdline:
                    found.append(status.parent.name)
        except OSError:
            continue
    return found


def test_a_failed_write_stops_the_reader_process(
    services: Services, tenant_a: TenantAccess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.audience.imports.parallel_from_bytes = 0
    list_id = _setup(services, tenant_a)
    path = tmp_path / "people.csv"
    # Three batches: the reader is still at work when the first write fails.
    path.write_text("email\n" + "".join(f"p{i}@example.com\n" for i in range(30_000)))

    def broken(self: object, batch: object) -> None:
        raise InvalidInputError("file", "the disk is full")

    monkeypatch.setattr(import_batch.BatchWriter, "write", broken)
    with pytest.raises(InvalidInputError, match="the disk is full"):
        _import(services, tenant_a, list_id, path)
    assert _readers_running() == []
    assert _emails(services, tenant_a) == set()


def test_imports_are_listed_per_tenant_and_per_list(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess, tmp_path: Path
) -> None:
    list_id = _setup(services, tenant_a)
    other = services.audience.create_list(tenant_a.operator, "Other", "x", double_opt_in=False)
    first, second = tmp_path / "1.csv", tmp_path / "2.csv"
    first.write_text("email\na@example.com\n")
    second.write_text("email\nb@example.com\n")
    one = _import(services, tenant_a, list_id, first)
    two = _import(services, tenant_a, other.id, second)
    imports = services.audience.imports
    page = imports.list_imports(tenant_a.operator, None, 1)
    assert len(page.items) == 1
    assert page.next_cursor is not None
    rest = imports.list_imports(tenant_a.operator, page.next_cursor, 10)
    assert {i.id for i in [*page.items, *rest.items]} == {one.id, two.id}
    assert imports.list_imports(tenant_b.operator, None, 10).items == []
    limited = replace(tenant_a.operator, lists=frozenset({other.id}))
    assert [i.id for i in imports.list_imports(limited, None, 10).items] == [two.id]


def test_the_header_of_an_upload_is_read_and_a_file_that_is_no_table_refused(
    services: Services, tmp_path: Path
) -> None:
    imports = services.audience.imports
    good = tmp_path / "good.csv"
    good.write_text("E-mail;First name\na@example.com;Ann\n")
    assert imports.read_header(good) == ["E-mail", "First name"]
    image = tmp_path / "x.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")
    with pytest.raises(InvalidInputError, match="not a CSV or XLSX"):
        imports.read_header(image)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInputError, match="empty"):
        imports.read_header(empty)
