"""Exporting a tenant's audit trail as JSON Lines or CSV, with the chain fields.

The export is itself recorded in the trail (an audit trail names people, so
reading it in bulk is a view of personal data). CSV cells a spreadsheet would
run as formulas are neutralized, as in the audience export.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Literal

from sqlalchemy import Select, select

from courriel.audience.export import neutralize
from courriel.core.audit import AuditFilter, AuditTrail, filtered_entries
from courriel.core.db import transaction
from courriel.core.models import AuditEntry
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

AuditFormat = Literal["jsonl", "csv"]
COLUMNS = [
    "seq",
    "occurred_at",
    "actor",
    "action",
    "subject",
    "detail",
    "source_ip",
    "prev_hash",
    "hash",
]
PAGE = 1000


def entry_row(entry: AuditEntry) -> dict[str, object]:
    """One entry as plain values (detail as its canonical JSON text)."""
    return {
        "seq": entry.seq,
        "occurred_at": entry.occurred_at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "detail": entry.detail,
        "source_ip": entry.source_ip,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def export_trail(
    storage: Storage,
    trail: AuditTrail,
    principal: Principal,
    fmt: AuditFormat,
    *,
    where: AuditFilter | None = None,
    source_ip: str | None = None,
) -> Iterator[str]:
    """Chunks of the filtered trail, oldest first; the export is recorded before any row."""
    principal.require(Capability.AUDIT_READ)
    # Reading the trail in bulk is its own right (audit:read browses it).
    principal.require(Capability.AUDIT_EXPORT)
    where = (where or AuditFilter()).checked()
    statement = filtered_entries(where)
    factory = storage.tenant(principal.tenant_id)
    with transaction(factory) as session:
        trail.record_in(
            session,
            principal,
            "audit.exported",
            None,
            {
                "format": fmt,
                "actor": where.actor,
                "action": where.action,
                "since": where.since.isoformat() if where.since else None,
                "until": where.until.isoformat() if where.until else None,
            },
            source_ip,
        )
        # Rows written after this point (the export's own entry included) are
        # left out, so the file is one consistent prefix of the chain.
        last = session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
    return _chunks(storage, principal.tenant_id, statement.where(AuditEntry.seq < (last or 0)), fmt)


def _chunks(
    storage: Storage, tenant_id: str, statement: Select[AuditEntry], fmt: AuditFormat
) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if fmt == "csv":
        writer.writerow(COLUMNS)
    with storage.tenant(tenant_id)() as session:
        rows = session.scalars(statement.order_by(AuditEntry.seq).execution_options(yield_per=PAGE))
        for entry in rows:
            row = entry_row(entry)
            if fmt == "jsonl":
                buffer.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                writer.writerow([neutralize(row[c]) for c in COLUMNS])
            if buffer.tell() > 1 << 16:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()
