"""The import wizard: upload a file, map its columns, declare the consent, follow
the progress, read the rejections.

Step one keeps the uploaded file in the data folder under a random name, with
a note of who uploaded it for which list; step two maps the file's columns
and declares its legal basis and source, and starts the import through the
same service as the API (which deletes the file when it is done). A refused
step shows its form again with the error beside the field, and the file
stays until a step succeeds.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from courriel.audience.access import shown_text
from courriel.audience.importer import (
    BUILTIN_FIELDS,
    LEGAL_BASES,
    ImportRequest,
    ImportSource,
    map_columns,
)
from courriel.audience.models import ImportStatus
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.core.files import private_directory
from courriel.core.principal import Capability
from courriel.web.api.imports import COPY_CHUNK, _run, _save
from courriel.web.deps import Services, ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer, ViewerDep

C = Capability
PAGE = 50
LIST_CHOICES = 200
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,40}")
# Rows are counted (newlines) for the progress bar only below this size.
COUNT_ROWS_UP_TO = 256 * 1024 * 1024
IGNORE = ""
# An upload waits this long for its mapping, then is deleted.
STAGED_FOR_SECONDS = 24 * 3600


def _staging(services: Services) -> Path:
    folder = Path(services.settings.data_dir) / "imports" / "staged"
    private_directory(folder.parent)
    private_directory(folder)
    return folder


def _sweep(folder: Path, now: float) -> None:
    """Forget uploads left at the mapping step for a day (a list of people kept no longer)."""
    for entry in folder.iterdir():
        with contextlib.suppress(OSError):
            if now - entry.stat().st_mtime > STAGED_FOR_SECONDS:
                entry.unlink()


def _approx_rows(path: Path) -> int | None:
    """Data rows of a CSV file, counted by line ends (for the progress bar)."""
    with path.open("rb") as stream:
        if stream.read(4) == b"PK\x03\x04":
            return None  # a spreadsheet: its rows are only known once read
        stream.seek(0)
        ends = 0
        last = b""
        while chunk := stream.read(1 << 20):
            ends += chunk.count(b"\n")
            last = chunk
    if last and not last.endswith(b"\n"):
        ends += 1
    return max(ends - 1, 0)


class Staged:
    """An uploaded file waiting for its mapping: `<token>.upload` and `<token>.json`."""

    def __init__(self, services: Services, viewer: Viewer, token: str) -> None:
        if not _TOKEN.fullmatch(token):
            raise NotFoundError("no such upload")
        folder = _staging(services)
        self.file = folder / f"{token}.upload"
        self.note = folder / f"{token}.json"
        try:
            self.about: dict[str, Any] = json.loads(self.note.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise NotFoundError("no such upload: it was imported or it expired") from None
        # Only its uploader, in the same tenant, continues an upload.
        if (
            self.about.get("user_id") != viewer.user.id
            or self.about.get("tenant_id") != viewer.principal.tenant_id
            or not self.file.exists()
        ):
            raise NotFoundError("no such upload")
        viewer.principal.require_list(self.about["list_id"])

    def drop_note(self) -> None:
        self.note.unlink(missing_ok=True)


def _targets(services: Services, viewer: Viewer) -> list[str]:
    properties = [p.name for p in services.audience.properties.list(viewer.principal)]
    return [*BUILTIN_FIELDS, *properties]


def _guess(header: list[str], targets: list[str]) -> list[str]:
    """The mapping the service would pick by name: what the form proposes first."""
    try:
        guessed = map_columns(header, None, [t for t in targets if t not in BUILTIN_FIELDS])
    except InvalidInputError:
        guessed = {}
    return [guessed.get(i, IGNORE) for i in range(len(header))]


def _required(value: str | None, field: str, reason: str) -> None:
    if not value:
        raise InvalidInputError(field, reason)


pages = APIRouter(prefix="/app/imports", include_in_schema=False)


def router() -> APIRouter:
    """The pages of imports."""
    return pages


def upload_page(
    request: Request, viewer: Viewer, services: Services, status: int = 200, **extra: Any
) -> HTMLResponse:
    principal = viewer.principal
    principal.require(C.CONTACTS_WRITE)
    lists = list(services.audience.list_lists(principal, None, LIST_CHOICES).items)
    cursor = request.query_params.get("cursor")
    page = services.audience.imports.list_imports(principal, cursor, PAGE)
    names = {lst.id: lst.name for lst in lists}
    context: dict[str, Any] = {
        "values": {"list_id": request.query_params.get("list_id", "")},
        "errors": {},
    }
    context.update(extra)
    return render(
        request,
        viewer,
        "imports/index.html",
        status,
        title=N_("Imports"),
        lists=lists,
        names=names,
        imports=page.items,
        next_url=f"/app/imports?cursor={page.next_cursor}" if page.next_cursor else None,
        **context,
    )


@pages.get("", response_class=HTMLResponse)
def imports(request: Request, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
    return upload_page(request, viewer, services)


@pages.post("", response_model=None)
def upload(
    request: Request,
    viewer: ViewerDep,
    services: ServicesDep,
    file: UploadFile | None = None,
    list_id: Annotated[str, Form(max_length=40)] = "",
) -> HTMLResponse | RedirectResponse:
    principal = viewer.principal
    principal.require(C.CONTACTS_WRITE)
    imports = services.audience.imports
    token = secrets.token_urlsafe(18)
    folder = _staging(services)
    _sweep(folder, time.time())  # file times are the real clock
    saved: Path | None = None
    try:
        _required(list_id, "list_id", "choose the list to import into")
        chosen = services.audience.get_list(principal, list_id)
        _required(file.filename if file else "", "file", "choose a CSV or XLSX file")
        assert file is not None
        saved = _save(file, folder, imports.limits.max_file_bytes)
        header = imports.read_header(saved)
    except (InvalidInputError, NotFoundError) as exc:
        if saved is not None:
            saved.unlink(missing_ok=True)
        field = exc.field if isinstance(exc, InvalidInputError) else "list_id"
        reason = exc.reason if isinstance(exc, InvalidInputError) else exc.detail
        return upload_page(
            request,
            viewer,
            services,
            422,
            values={"list_id": list_id},
            errors={field: reason},
        )
    target = folder / f"{token}.upload"
    saved.rename(target)
    note = {
        "tenant_id": principal.tenant_id,
        "user_id": viewer.user.id,
        "list_id": chosen.id,
        "file_name": (file.filename or "upload")[:255],
        "header": header,
        "rows": _approx_rows(target),
    }
    (folder / f"{token}.json").write_text(json.dumps(note), encoding="utf-8")
    return RedirectResponse(f"/app/imports/new/{token}", status_code=303)


def mapping_page(
    request: Request,
    viewer: Viewer,
    services: Services,
    staged: Staged,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    header: list[str] = staged.about["header"]
    targets = _targets(services, viewer)
    chosen_list = services.audience.get_list(viewer.principal, staged.about["list_id"])
    context: dict[str, Any] = {
        "chosen": _guess(header, targets),
        "values": {"legal_basis": "", "source": "", "confirmed": False},
        "errors": {},
        "column_errors": {},
    }
    context.update(extra)
    return render(
        request,
        viewer,
        "imports/mapping.html",
        status,
        title=N_("Map the columns"),
        about=staged.about,
        header=header,
        targets=targets,
        mailing_list=chosen_list,
        legal_bases=sorted(LEGAL_BASES),
        sources=[s.value for s in ImportSource],
        token=request.path_params["token"],
        **context,
    )


@pages.get("/new/{token}", response_class=HTMLResponse)
def mapping(request: Request, token: str, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
    viewer.principal.require(C.CONTACTS_WRITE)
    return mapping_page(request, viewer, services, Staged(services, viewer, token))


@pages.post("/new/{token}", response_model=None)
async def start(
    request: Request,
    token: str,
    viewer: ViewerDep,
    services: ServicesDep,
    background: BackgroundTasks,
) -> HTMLResponse | RedirectResponse:
    principal = viewer.principal
    principal.require(C.CONTACTS_WRITE)
    staged = Staged(services, viewer, token)
    form = await request.form()
    header: list[str] = staged.about["header"]
    chosen = [str(form.get(f"column-{i}", IGNORE))[:200] for i in range(len(header))]
    values = {
        "legal_basis": str(form.get("legal_basis", ""))[:40],
        "source": str(form.get("source", ""))[:40],
        "confirmed": form.get("confirmed") == "true",
    }
    mapping = {name: target for name, target in zip(header, chosen, strict=True) if target}
    imports = services.audience.imports
    targets = _targets(services, viewer)
    job_request = ImportRequest(
        list_id=staged.about["list_id"],
        file_name=staged.about["file_name"],
        legal_basis=str(values["legal_basis"]),
        source=str(values["source"]),
        mapping=mapping,
        confirmed=bool(values["confirmed"]),
    )
    try:
        map_columns(header, mapping, [t for t in targets if t not in BUILTIN_FIELDS])
        job = imports.start(principal, job_request, staged.file)
    except InvalidInputError as exc:
        errors: dict[str, str] = {}
        column_errors: dict[int, str] = {}
        column = exc.field.removeprefix("mapping.")
        if exc.field.startswith("mapping.") and column in header:
            column_errors[header.index(column)] = exc.reason
        else:
            errors[exc.field] = exc.reason
        return mapping_page(
            request, viewer, services, staged, 422,
            chosen=chosen, values=values, errors=errors, column_errors=column_errors,
        )  # fmt: skip
    staged.drop_note()
    rows = staged.about.get("rows")
    suffix = f"?rows={rows}" if isinstance(rows, int) else ""
    if job.status is not ImportStatus.RUNNING:
        # The same file was imported into this list before: nothing to do again.
        staged.file.unlink(missing_ok=True)
        return RedirectResponse(f"/app/imports/{job.id}?again=true", status_code=303)
    background.add_task(_run, imports, principal, job, job_request, staged.file)
    return RedirectResponse(f"/app/imports/{job.id}{suffix}", status_code=303)


def progress_context(
    services: Services, viewer: Viewer, import_id: str, rows: int | None
) -> dict[str, Any]:
    job = services.audience.imports.get(viewer.principal, import_id)
    total = rows if rows and rows > 0 else None
    if job.status is not ImportStatus.RUNNING:
        total = max(job.rows_read, 1)
    return {
        "job": job,
        "total": total,
        "done": min(job.rows_read, total) if total else None,
        "running": job.status is ImportStatus.RUNNING,
        "rows": rows,
    }


@pages.get("/{import_id}", response_class=HTMLResponse)
def show(
    request: Request,
    *,
    import_id: str,
    viewer: ViewerDep,
    services: ServicesDep,
    rows: int | None = None,
    cursor: str | None = None,
    again: bool = False,
) -> HTMLResponse:
    principal = viewer.principal
    context = progress_context(services, viewer, import_id, rows)
    page = services.audience.imports.rejections(principal, import_id, cursor, PAGE)
    rejections = [(r.line, shown_text(principal, r.reason)) for r in page.items]
    try:
        list_name = services.audience.get_list(principal, context["job"].list_id).name
    except NotFoundError:
        list_name = context["job"].list_id
    return render(
        request,
        viewer,
        "imports/show.html",
        title=N_("Import"),
        rejections=rejections,
        next_url=f"/app/imports/{import_id}?cursor={page.next_cursor}"
        if page.next_cursor
        else None,
        list_name=list_name,
        again=again,
        **context,
    )


@pages.get("/{import_id}/progress", response_class=HTMLResponse)
def progress(
    request: Request,
    import_id: str,
    viewer: ViewerDep,
    services: ServicesDep,
    rows: int | None = None,
) -> HTMLResponse:
    context = progress_context(services, viewer, import_id, rows)
    response = render(request, viewer, "imports/progress.html", title=N_("Import"), **context)
    if not context["running"]:
        # Finished: the whole page again, now with its rejections.
        response.headers["HX-Refresh"] = "true"
    return response


@pages.get("/{import_id}/rejections.csv", response_model=None)
def rejections_csv(import_id: str, viewer: ViewerDep, services: ServicesDep) -> StreamingResponse:
    principal = viewer.principal
    found = services.audience.imports.all_rejections(principal, import_id)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["line", "reason"])
        for rejection in found:
            writer.writerow([rejection.line, shown_text(principal, rejection.reason)])
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
