"""Saved segments, live counts, and the condition other rooms (campaigns) select by."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, func, select
from sqlalchemy.orm import Session

from courriel.audience.access import reachable
from courriel.audience.models import Contact, MailingList, Segment
from courriel.audience.properties import clean_text, load_definitions
from courriel.audience.segments.compiler import BUILTIN, Compiler
from courriel.audience.segments.parser import (
    BoolOp,
    Compare,
    Contains,
    InSet,
    IsSet,
    Member,
    Node,
    Not,
    SegmentError,
    parse,
)
from courriel.audience.sunset import list_months
from courriel.core.clock import Clock
from courriel.core.db import get_or_not_found, transaction
from courriel.core.ids import new_id
from courriel.core.pagination import Page, paginate
from courriel.core.principal import Capability, FieldAccess, Principal
from courriel.core.storage import Storage


@dataclass(frozen=True)
class CountedSegment:
    """A saved segment with how many contacts it holds now."""

    segment: Segment
    count: int


def segment_condition(session: Session, expression: str, clock: Clock) -> ColumnElement[bool]:
    """The SQLAlchemy condition on `Contact` for an expression, in this tenant's session.

    Campaigns select their audience with it:
    ``select(Contact.id).where(segment_condition(session, text, clock))``.
    """
    tree = parse(expression)
    sunsets = list_months(session, select(MailingList.id)) if _names_sunset(tree) else {}
    condition = Compiler(load_definitions(session), clock.now(), sunsets).compile(tree)
    # Contacts under restricted processing (GDPR Art. 18) are in no segment.
    return and_(condition, Contact.restricted.is_(false()))


def _names_sunset(node: Node) -> bool:
    if isinstance(node, Member):
        return node.sunset
    if isinstance(node, Not):
        return _names_sunset(node.item)
    if isinstance(node, BoolOp):
        return any(_names_sunset(item) for item in node.items)
    return False


def _fields(node: Node) -> Iterator[Compare | InSet | Contains | IsSet]:
    if isinstance(node, Compare | InSet | Contains | IsSet):
        yield node
    elif isinstance(node, Not):
        yield from _fields(node.item)
    elif isinstance(node, BoolOp):
        for item in node.items:
            yield from _fields(item)


def refuse_hidden_fields(principal: Principal, expression: str) -> None:
    """A condition on a field hidden from the principal would reveal it one guess at a
    time (`email = "ana@…"` counts 1 or 0): refused, at the field's position.

    The domain of an address is a group, not a person, and stays usable.
    """
    for node in _fields(parse(expression)):
        lowered = node.field.lower()
        if lowered == "email.domain" or lowered in ("language", "timezone"):
            continue
        name = lowered if lowered in BUILTIN else f"properties.{node.field}"
        if principal.access(name) is FieldAccess.HIDDEN:
            raise SegmentError(node.position, f"the field {node.field!r} is hidden from you")


class SegmentService:
    """Create, list and count segments."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    def count(self, principal: Principal, expression: str) -> int:
        """How many contacts match an expression now."""
        principal.require(Capability.CONTACTS_READ)
        refuse_hidden_fields(principal, expression)
        with self._storage.tenant(principal.tenant_id)() as session:
            return self._count(session, expression, principal)

    def _count(self, session: Session, expression: str, principal: Principal) -> int:
        # A principal limited to some lists counts only the contacts on them.
        condition = segment_condition(session, expression, self._clock)
        statement = reachable(select(func.count()).select_from(Contact), principal, Contact.id)
        return int(session.scalar(statement.where(condition)) or 0)

    def create(self, principal: Principal, name: str, expression: str) -> CountedSegment:
        """Save a segment; the expression is checked (and counted) first."""
        principal.require(Capability.LISTS_WRITE)
        clean = clean_text(name, "name", 200)
        refuse_hidden_fields(principal, expression)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            count = self._count(session, expression, principal)
            now = self._clock.now()
            segment = Segment(
                id=new_id("seg"),
                name=clean,
                expression=expression,
                created_at=now,
                # The tenant's count; a list-limited author's is theirs alone.
                last_count=count if principal.lists is None else None,
                counted_at=now,
            )
            session.add(segment)
        return CountedSegment(segment, count)

    def update(
        self, principal: Principal, segment_id: str, name: str, expression: str
    ) -> CountedSegment:
        """Change a saved segment's name and expression (checked and counted first)."""
        principal.require(Capability.LISTS_WRITE)
        clean = clean_text(name, "name", 200)
        refuse_hidden_fields(principal, expression)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            segment = get_or_not_found(session, Segment, segment_id, "segment")
            count = self._count(session, expression, principal)
            segment.name = clean
            segment.expression = expression
            segment.last_count = count if principal.lists is None else None
            segment.counted_at = self._clock.now()
        return CountedSegment(segment, count)

    def stored(self, principal: Principal, segment_id: str) -> Segment:
        """A saved segment with the count taken when it was last saved (no scan).

        The count is the whole tenant's, taken by whoever saved it; a principal
        limited to some lists gets none (its own count needs a live one).
        """
        principal.require(Capability.CONTACTS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            segment = get_or_not_found(session, Segment, segment_id, "segment")
            session.expunge(segment)
        if principal.lists is not None:
            segment.last_count = None
        return segment

    def saved(self, principal: Principal, cursor: str | None, limit: int) -> Page[Segment]:
        """The tenant's segments a page at a time, without counting them (cheap to show)."""
        principal.require(Capability.CONTACTS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            return paginate(session, select(Segment), Segment.id, cursor, limit)

    def get(self, principal: Principal, segment_id: str) -> CountedSegment:
        """A saved segment and its live count."""
        principal.require(Capability.CONTACTS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            segment = get_or_not_found(session, Segment, segment_id, "segment")
            return CountedSegment(segment, self._count(session, segment.expression, principal))

    def list(self, principal: Principal) -> list[CountedSegment]:
        """The tenant's segments with live counts."""
        principal.require(Capability.CONTACTS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            segments = list(session.scalars(select(Segment).order_by(Segment.created_at)))
            return [
                CountedSegment(s, self._count(session, s.expression, principal)) for s in segments
            ]

    def names(self, principal: Principal) -> Sequence[Segment]:
        """The tenant's segments without counting them (a form's choices)."""
        principal.require(Capability.CONTACTS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            return list(session.scalars(select(Segment).order_by(Segment.name, Segment.id)))

    def condition(
        self, principal: Principal, segment_id: str, session: Session
    ) -> ColumnElement[bool]:
        """The condition of a saved segment (for campaigns), in the caller's session."""
        principal.require(Capability.CONTACTS_READ)
        segment = get_or_not_found(session, Segment, segment_id, "segment")
        return segment_condition(session, segment.expression, self._clock)
