"""Step figures, kept in the transaction that moves the people they count.

A workflow's figures are then a handful of rows, never a count over its
enrollments; `step_key` "" holds the workflow's own totals.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from courriel.automation.models import StepCounter
from courriel.core.db import insert_for

_UPSERTS: dict[str, Any] = {}


def bump(session: Session, workflow_id: str, step_key: str, metric: str, n: int = 1) -> None:
    """Add `n` to one figure (created at 0 when new)."""
    dialect = session.get_bind().dialect.name
    statement = _UPSERTS.get(dialect)
    if statement is None:
        table: Any = StepCounter.__table__
        statement = insert_for(session)(table)
        statement = statement.on_conflict_do_update(
            index_elements=list(table.primary_key.columns),
            set_={"count": table.c.count + statement.excluded.count},
        )
        _UPSERTS[dialect] = statement
    session.execute(
        statement,
        [{"workflow_id": workflow_id, "step_key": step_key, "metric": metric, "count": n}],
    )
