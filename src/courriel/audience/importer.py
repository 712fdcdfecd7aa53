"""Importing contacts from a file into a list, lawfully and repeatably.

Every import declares its legal basis and where the addresses came from;
purchased or rented lists are refused (the people on them never agreed to
hear from this sender). Rows are validated one by one and written a batch at
a time; the file is deduplicated against itself and against the database;
suppressed addresses and people who unsubscribed are reported, never
re-subscribed. Importing the same file into the same list again changes
nothing.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from sqlalchemy import Select, select

from courriel.audience.hygiene.screen import ListHygiene
from courriel.audience.import_batch import BatchWriter, ImportContext
from courriel.audience.import_reader import ReadPlan, check_here, check_in_child
from courriel.audience.import_rows import PropertySpec
from courriel.audience.models import (
    ContactImport,
    ImportRejection,
    ImportStatus,
    MailingList,
)
from courriel.audience.properties import RESERVED, load_definitions
from courriel.audience.tabular import BadRow, FileRows, ReadLimits
from courriel.core.addresses import tenant_hash_key
from courriel.core.audit import record_entry
from courriel.core.clock import Clock
from courriel.core.db import get_or_not_found, transaction
from courriel.core.errors import CourrielError, InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.pagination import Page, paginate
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

# Rows per batch: one transaction, and about 6 MB of checked rows in memory.
BATCH = 10_000
# From this file size on, rows are read and checked by a process of their own
# (`import_reader`) while this one writes: about 100,000 rows of a typical file.
PARALLEL_FROM_BYTES = 4 * 1024 * 1024
LEGAL_BASES = frozenset({"consent", "contract", "legitimate-interest"})
BUILTIN_FIELDS = ("email", "first_name", "last_name", "language", "timezone")
# What no column name holds: control characters, undecodable bytes.
_NOT_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f\ufffd]")
ALIASES = {"e-mail": "email", "email address": "email", "mail": "email"}


class ImportSource(enum.StrEnum):
    """Where the addresses of an import came from, as declared by the sender."""

    SIGNUP_FORM = "signup-form"
    CUSTOMERS = "customers"
    EVENT = "event"
    MIGRATION = "migration"
    OTHER = "other"


REFUSED_SOURCES = frozenset({"purchased-list", "rented-list", "purchased-or-rented-list"})

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportRequest:
    """What the sender declares about a file."""

    list_id: str
    file_name: str
    legal_basis: str
    source: str
    # Column header → contact field or property name; None maps headers by name.
    mapping: Mapping[str, str] | None = None
    # The sender attests these people already confirmed by double opt-in.
    confirmed: bool = False


def check_source(source: str) -> ImportSource:
    """The declared source, or a clear refusal."""
    if source in REFUSED_SOURCES:
        raise InvalidInputError(
            "source",
            "purchased or rented lists are refused: the people on them never agreed "
            "to hear from you (sending policy)",
        )
    try:
        return ImportSource(source)
    except ValueError:
        allowed = ", ".join(s.value for s in ImportSource)
        raise InvalidInputError("source", f"must be one of {allowed}") from None


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class ImportService:
    """Start, run and report on imports."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        secret_key: bytes,
        limits: ReadLimits | None = None,
        *,
        hygiene: ListHygiene | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._secret_key = secret_key
        self._hygiene = hygiene
        self.limits = limits or ReadLimits()
        self.parallel_from_bytes = PARALLEL_FROM_BYTES

    def read_header(self, path: Path) -> list[str]:
        """The column names of an uploaded file, to map them; a clear error for a file
        that is not a table (an image, a PDF, a word-processor document)."""
        rows = iter(FileRows(path, self.limits))
        try:
            first = next(rows, None)
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()
        if first is None:
            raise InvalidInputError("file", "the file is empty: it has no header row")
        names = [cell.strip() for cell in first[1]]
        unreadable = isinstance(first[1], BadRow) or not any(names)
        if unreadable or any(_NOT_TEXT.search(name) for name in names):
            raise InvalidInputError(
                "file", "this is not a CSV or XLSX file: its first row is not column names"
            )
        return names

    def start(self, principal: Principal, request: ImportRequest, path: Path) -> ContactImport:
        """Check the declaration and the file; return the import (an earlier one if identical)."""
        principal.require(Capability.CONTACTS_WRITE)
        principal.require_list(request.list_id)
        if request.legal_basis not in LEGAL_BASES:
            raise InvalidInputError(
                "legal_basis", f"must be one of {', '.join(sorted(LEGAL_BASES))}"
            )
        source = check_source(request.source)
        FileRows(path, self.limits)  # size checks before anything is stored
        digest = file_digest(path)
        now = self._clock.now()
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            if session.get(MailingList, request.list_id) is None:
                raise InvalidInputError("list_id", f"no list {request.list_id!r}")
            earlier = session.scalars(
                select(ContactImport).where(
                    ContactImport.list_id == request.list_id,
                    ContactImport.file_sha256 == digest,
                    ContactImport.status == ImportStatus.DONE,
                )
            ).first()
            if earlier is not None:
                return earlier
            job = ContactImport(
                id=new_id("imp"),
                list_id=request.list_id,
                file_name=request.file_name[:255],
                file_sha256=digest,
                legal_basis=request.legal_basis,
                source=source.value,
                status=ImportStatus.RUNNING,
                rows_read=0,
                imported=0,
                unchanged=0,
                rejected=0,
                error="",
                principal=principal.actor,
                created_at=now,
            )
            session.add(job)
            record_entry(
                session,
                now,
                principal,
                "contacts.import_started",
                f"import:{job.id}",
                {
                    "list_id": request.list_id,
                    "file_sha256": digest,
                    "legal_basis": request.legal_basis,
                    "source": source.value,
                },
            )
        return job

    def run(
        self,
        principal: Principal,
        job: ContactImport,
        request: ImportRequest,
        path: Path,
        progress: Progress | None = None,
    ) -> ContactImport:
        """Read the file into the list; a structural error fails the import with its reason."""
        principal.require(Capability.CONTACTS_WRITE)
        if job.status is not ImportStatus.RUNNING:
            return job
        factory = self._storage.tenant(principal.tenant_id)
        try:
            unchecked = self._read(principal, job, request, path, progress)
        except CourrielError as exc:
            with transaction(factory) as session:
                row = session.get(ContactImport, job.id)
                assert row is not None
                row.status = ImportStatus.FAILED
                row.error = exc.detail
                row.finished_at = self._clock.now()
                record_entry(
                    session,
                    row.finished_at,
                    principal,
                    "contacts.import_failed",
                    f"import:{job.id}",
                    {"list_id": row.list_id, "rows_read": row.rows_read},
                )
            raise
        with transaction(factory) as session:
            row = session.get(ContactImport, job.id)
            assert row is not None
            row.status = ImportStatus.DONE
            row.unchecked_domains = unchecked
            row.finished_at = self._clock.now()
            record_entry(
                session,
                row.finished_at,
                principal,
                "contacts.imported",
                f"import:{job.id}",
                {
                    "list_id": row.list_id,
                    "rows_read": row.rows_read,
                    "imported": row.imported,
                    "unchanged": row.unchanged,
                    "rejected": row.rejected,
                    "flagged": row.flagged,
                },
            )
        return self.get(principal, job.id)

    def _read(
        self,
        principal: Principal,
        job: ContactImport,
        request: ImportRequest,
        path: Path,
        progress: Progress | None,
    ) -> int:
        """Read, screen and write the file; the number of domains DNS could not check."""
        factory = self._storage.tenant(principal.tenant_id)
        with factory() as session:
            definitions = load_definitions(session)
            mailing_list = session.get(MailingList, request.list_id)
        if mailing_list is None:
            raise NotFoundError(f"no list {request.list_id!r}")
        header = next(iter(FileRows(path, self.limits)), None)
        if header is None:
            raise InvalidInputError("file", "the file has no header row")
        columns = map_columns(header[1], request.mapping, definitions.keys())
        context = ImportContext(
            tenant_id=principal.tenant_id,
            actor=principal.actor,
            job_id=job.id,
            mailing_list=mailing_list,
            legal_basis=request.legal_basis,
            confirmed=request.confirmed,
        )
        plan = ReadPlan(
            path=path,
            limits=self.limits,
            columns=columns,
            properties={
                name: PropertySpec(d.kind, tuple(d.choices)) for name, d in definitions.items()
            },
            hash_key=tenant_hash_key(self._secret_key, principal.tenant_id),
            batch_rows=BATCH,
        )
        large = path.stat().st_size >= self.parallel_from_bytes
        writer = BatchWriter(context, factory, self._clock)
        batches = check_in_child(plan) if large else check_here(plan)
        unchecked: set[str] = set()
        # Closed at once if writing fails, which stops a child reader.
        with contextlib.closing(batches):
            for batch in batches:
                if self._hygiene is not None:
                    unchecked |= self._hygiene.screen(batch, mailing_list.role_addresses)
                writer.write(batch)
                if progress is not None:
                    progress(writer.rows_read)
        if progress is not None and writer.rows_read == 0:
            progress(0)
        return len(unchecked)

    def get(self, principal: Principal, import_id: str) -> ContactImport:
        """One import and its progress."""
        principal.require(Capability.CONTACTS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            found = get_or_not_found(session, ContactImport, import_id, "import")
        if not principal.sees_list(found.list_id):
            raise NotFoundError(f"no import {import_id!r}")
        return found

    def list_imports(
        self, principal: Principal, cursor: str | None, limit: int
    ) -> Page[ContactImport]:
        """The tenant's imports (of the principal's lists), a page at a time."""
        principal.require(Capability.CONTACTS_READ)
        statement: Select[tuple[ContactImport]] = select(ContactImport)
        if principal.lists is not None:
            statement = statement.where(ContactImport.list_id.in_(sorted(principal.lists)))
        with self._storage.tenant(principal.tenant_id)() as session:
            return paginate(session, statement, ContactImport.id, cursor, limit)

    def rejections(
        self, principal: Principal, import_id: str, cursor: str | None, limit: int
    ) -> Page[ImportRejection]:
        """The rows an import did not take, by line."""
        self.get(principal, import_id)
        with self._storage.tenant(principal.tenant_id)() as session:
            statement = cast(
                "Select[tuple[ImportRejection]]",
                select(ImportRejection).where(ImportRejection.import_id == import_id),
            )
            return paginate(session, statement, ImportRejection.id, cursor, limit)

    def all_rejections(self, principal: Principal, import_id: str) -> Iterable[ImportRejection]:
        """Every rejection of an import, for the downloadable report.

        The import is looked up now, not when the rows are first read: an
        unknown or another tenant's import is a NotFoundError before a
        streamed report has sent its first byte.
        """
        self.get(principal, import_id)
        return self._rejection_rows(principal, import_id)

    def _rejection_rows(self, principal: Principal, import_id: str) -> Iterator[ImportRejection]:
        with self._storage.tenant(principal.tenant_id)() as session:
            yield from session.scalars(
                select(ImportRejection)
                .where(ImportRejection.import_id == import_id)
                .order_by(ImportRejection.line)
                .execution_options(yield_per=1000)
            )


def map_columns(
    header: list[str], mapping: Mapping[str, str] | None, properties: Iterable[str]
) -> dict[int, str]:
    """Column index → field; the email column is required, unknown targets are errors."""
    known = set(BUILTIN_FIELDS) | set(properties)
    columns: dict[int, str] = {}
    names = [h.strip() for h in header]
    if mapping is not None:
        for source, target in mapping.items():
            if source not in names:
                raise InvalidInputError(f"mapping.{source}", "no such column in the file")
            if target not in known or (target in RESERVED and target not in BUILTIN_FIELDS):
                raise InvalidInputError(
                    f"mapping.{source}", f"{target!r} is not a contact field or property"
                )
            columns[names.index(source)] = target
    else:
        for index, name in enumerate(names):
            field = ALIASES.get(name.lower(), name.lower())
            if field in known and field not in columns.values():
                columns[index] = field
    if "email" not in columns.values():
        raise InvalidInputError("mapping", "no column is mapped to email")
    return columns
