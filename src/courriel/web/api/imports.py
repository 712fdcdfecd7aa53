"""HTTP routes of imports: upload a file, follow its progress, download its rejections."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from courriel.audience.importer import ImportRequest, ImportService
from courriel.audience.models import ContactImport, ImportStatus
from courriel.core.errors import CourrielError, InvalidInputError
from courriel.core.files import FILE_MODE, private_directory
from courriel.core.principal import Principal
from courriel.core.schemas import PageOut
from courriel.web.deps import DEFAULT_PAGE, CursorQuery, LimitQuery, PrincipalDep, ServicesDep

router = APIRouter(tags=["audience"])
COPY_CHUNK = 1 << 20


class ImportOut(BaseModel):
    id: str
    list_id: str
    file_name: str
    legal_basis: str
    source: str
    status: str
    rows_read: int
    imported: int
    unchanged: int
    rejected: int
    flagged: int = Field(
        default=0, description="Role addresses taken with their flag (the list flags them)"
    )
    unchecked_domains: int = Field(
        default=0,
        description="Domains whose mail servers were not checked: DNS was unreachable",
    )
    error: str


class RejectionOut(BaseModel):
    line: int
    reason: str


def _out(job: ContactImport) -> ImportOut:
    return ImportOut.model_validate(job, from_attributes=True)


def _save(upload: UploadFile, folder: Path, limit: int) -> Path:
    private_directory(folder)
    target = folder / f"{secrets.token_hex(16)}.upload"
    size = 0
    # Owner-only like the databases: the file is a list of people.
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb") as out:
        while chunk := upload.file.read(COPY_CHUNK):
            size += len(chunk)
            if size > limit:
                out.close()
                target.unlink()
                raise InvalidInputError("file", f"the file is larger than {limit} bytes")
            out.write(chunk)
    return target


def _run(
    imports: ImportService, principal: Principal, job: ContactImport, req: ImportRequest, path: Path
) -> None:
    try:
        # A failure is stored on the import (status failed, its reason) by `run`.
        with contextlib.suppress(CourrielError):
            imports.run(principal, job, req, path)
    finally:
        path.unlink(missing_ok=True)


@router.post("/lists/{list_id}/imports", status_code=202)
def start_import(
    list_id: str,
    *,
    file: UploadFile,
    legal_basis: Annotated[str, Form(max_length=40)],
    source: Annotated[str, Form(max_length=40)],
    services: ServicesDep,
    principal: PrincipalDep,
    background: BackgroundTasks,
    confirmed: Annotated[bool, Form()] = False,
    mapping: Annotated[str | None, Form(max_length=100_000)] = None,
) -> JSONResponse:
    """Upload a CSV or XLSX file into a list; the import runs in the background."""
    imports = services.audience.imports
    columns: dict[str, str] | None = None
    if mapping:
        try:
            columns = json.loads(mapping)
        except json.JSONDecodeError:
            raise InvalidInputError("mapping", "must be a JSON object") from None
        if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
            raise InvalidInputError("mapping", "must map column names to field names")
    request = ImportRequest(
        list_id=list_id,
        file_name=file.filename or "upload",
        legal_basis=legal_basis,
        source=source,
        mapping=columns,
        confirmed=confirmed,
    )
    folder = Path(services.settings.data_dir) / "imports"
    path = _save(file, folder, imports.limits.max_file_bytes)
    try:
        job = imports.start(principal, request, path)
    except CourrielError:
        path.unlink(missing_ok=True)
        raise
    if job.status is not ImportStatus.RUNNING:
        path.unlink(missing_ok=True)
        return JSONResponse(_out(job).model_dump(), status_code=200)
    background.add_task(_run, imports, principal, job, request, path)
    return JSONResponse(_out(job).model_dump(), status_code=202)


@router.get("/imports/{import_id}")
def get_import(import_id: str, services: ServicesDep, principal: PrincipalDep) -> ImportOut:
    """An import's progress and outcome."""
    return _out(services.audience.imports.get(principal, import_id))


@router.get("/imports/{import_id}/rejections")
def list_rejections(
    import_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
) -> PageOut[RejectionOut]:
    """The rows an import did not take."""
    page = services.audience.imports.rejections(principal, import_id, cursor, limit)
    return PageOut[RejectionOut].of(page, lambda r: RejectionOut(line=r.line, reason=r.reason))


@router.get("/imports/{import_id}/rejections.csv")
def download_rejections(
    import_id: str, services: ServicesDep, principal: PrincipalDep
) -> StreamingResponse:
    """The rejected rows as a CSV report (line, reason)."""
    rows = services.audience.imports.all_rejections(principal, import_id)
    first = iter(rows)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["line", "reason"])
        for rejection in first:
            writer.writerow([rejection.line, rejection.reason])
            if buffer.tell() > COPY_CHUNK:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{import_id}-rejections.csv"'},
    )
