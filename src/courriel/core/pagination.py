"""One pagination convention for every list endpoint: keyset cursors.

A page is ``{"data": [...], "next_cursor": "…" | null}``; the cursor is the
opaque id of the last item, so pages stay stable while rows are added and no
OFFSET scan grows with the page number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from courriel.core.errors import InvalidInputError

T = TypeVar("T")

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Page(Generic[T]):
    """A slice of a listing and the cursor of the next one."""

    items: Sequence[T]
    next_cursor: str | None


def check_limit(limit: int) -> int:
    """Validate a page size named ``limit``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError("limit", f"must be between 1 and {MAX_LIMIT}")
    return limit


def paginate(
    session: Session,
    statement: Select[tuple[T]],
    key: InstrumentedAttribute[Any],
    cursor: str | None,
    limit: int,
) -> Page[T]:
    """Run `statement` ordered by `key` from after `cursor`, one page of `limit` rows."""
    check_limit(limit)
    if cursor is not None:
        statement = statement.where(key > cursor)
    rows = cast("list[T]", list(session.scalars(statement.order_by(key).limit(limit + 1))))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = str(getattr(rows[-1], key.key)) if more and rows else None
    return Page(items=rows, next_cursor=next_cursor)


def paginate_newest(
    session: Session,
    statement: Select[tuple[T]],
    *,
    created: InstrumentedAttribute[Any],
    key: InstrumentedAttribute[Any],
    cursor: str | None,
    limit: int,
) -> Page[T]:
    """Newest first: ordered by `created` then `key`, both descending.

    Ids are random, so creation order needs the time in the cursor too:
    ``<ISO time>|<id>`` of the last row, opaque to clients like any cursor.
    """
    check_limit(limit)
    if cursor is not None:
        when_text, bar, last = cursor.partition("|")
        try:
            when = dt.datetime.fromisoformat(when_text)
        except ValueError:
            raise InvalidInputError("cursor", "not a cursor of this listing") from None
        if not bar or not last:
            raise InvalidInputError("cursor", "not a cursor of this listing")
        statement = statement.where(or_(created < when, and_(created == when, key < last)))
    ordered = statement.order_by(created.desc(), key.desc()).limit(limit + 1)
    rows = cast("list[T]", list(session.scalars(ordered)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last_row = rows[-1]
        stamp = getattr(last_row, created.key)
        next_cursor = f"{stamp.isoformat()}|{getattr(last_row, key.key)}"
    return Page(items=rows, next_cursor=next_cursor)
