"""Compiling a segment's syntax tree to a SQLAlchemy condition on `Contact`.

Values are always bound parameters and fields are looked up in a fixed
table or the tenant's property definitions, so no part of the user's text
ever becomes SQL. Properties live in the JSON column; SQLAlchemy's JSON
accessors (`as_string`, `as_float`, `as_boolean`) render them per backend.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    Contact,
    PropertyDefinition,
    PropertyKind,
    Subscription,
)
from courriel.audience.models import SubscriptionStatus as S
from courriel.audience.segments.parser import (
    BoolOp,
    Compare,
    Contains,
    Engagement,
    InSet,
    IsSet,
    Member,
    Node,
    Not,
    SegmentError,
    When,
)
from courriel.audience.sunset import sunset_subscription
from courriel.events.models import Event, EventType

BUILTIN: dict[str, InstrumentedAttribute[Any]] = {
    "email": Contact.email,
    "email.domain": Contact.email_domain,
    "first_name": Contact.first_name,
    "last_name": Contact.last_name,
    "language": Contact.language,
    "timezone": Contact.timezone,
}


class Compiler:
    """Turns nodes into conditions for one tenant's properties, at one moment."""

    def __init__(
        self,
        definitions: Mapping[str, PropertyDefinition],
        now: dt.datetime,
        sunsets: Mapping[str, int] | None = None,
    ) -> None:
        self._definitions = definitions
        self._now = now
        # The lists whose sunset policy is on: id → months (audience/sunset.py).
        self._sunsets = sunsets or {}

    def compile(self, node: Node) -> ColumnElement[bool]:
        """The condition selecting the contacts `node` describes."""
        if isinstance(node, BoolOp):
            return self._bool(node)
        if isinstance(node, Not):
            return not_(self.compile(node.item))
        if isinstance(node, Compare | InSet | Contains | IsSet):
            return self._field(node)
        if isinstance(node, Engagement):
            return self._engagement(node)
        if isinstance(node, Member):
            return self._member(node)
        return self._when(node)

    def _member(self, node: Member) -> ColumnElement[bool]:
        member = exists().where(
            Subscription.contact_id == Contact.id,
            Subscription.list_id == node.list_id,
            Subscription.status == S.SUBSCRIBED,
        )
        if not node.sunset:
            return member
        months = self._sunsets.get(node.list_id)
        if months is None:
            return false()  # The policy is off there: nobody is sunset.
        return member.where(sunset_subscription(Subscription, months, self._now))

    def _bool(self, node: BoolOp) -> ColumnElement[bool]:
        # Compiled in the written order, so an error names the leftmost problem.
        parts = [(self._cost(item), self.compile(item)) for item in node.items]
        if node.op == "or":
            return or_(*(part for _, part in parts))
        # SQLite tests the terms of an AND in the order given: indexed and
        # plain columns first, then set lookups, JSON extraction last.
        return and_(*(part for _, part in sorted(parts, key=lambda p: p[0])))

    @staticmethod
    def _cost(node: Node) -> int:
        if isinstance(node, Compare | InSet | Contains | IsSet):
            return 0 if node.field.lower() in BUILTIN else 2
        if isinstance(node, Engagement | Member | When):
            return 1
        return 3

    def _column(self, name: str, position: int) -> tuple[Any, PropertyKind]:
        lowered = name.lower()
        if lowered in BUILTIN:
            return BUILTIN[lowered], PropertyKind.TEXT
        definition = self._definitions.get(name)
        if definition is None:
            raise SegmentError(position, f"unknown field {name!r}")
        element = Contact.properties[name]
        if definition.kind is PropertyKind.NUMBER:
            return element.as_float(), definition.kind
        if definition.kind is PropertyKind.BOOLEAN:
            return element.as_boolean(), definition.kind
        return element.as_string(), definition.kind

    def _field(self, node: Compare | InSet | Contains | IsSet) -> ColumnElement[bool]:
        found, kind = self._column(node.field, node.position)
        column: ColumnElement[Any] = found
        if isinstance(node, IsSet):
            return column.is_(None) if node.negated else column.is_not(None)
        if isinstance(node, Contains):
            escaped = node.value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return column.like(f"%{escaped}%", escape="\\")
        if isinstance(node, InSet):
            values = [self._coerce(v, kind, node) for v in node.values]
            if node.field.lower() == "email.domain":
                values = [str(v).lower() for v in values]
            return column.not_in(values) if node.negated else column.in_(values)
        value = self._coerce(node.value, kind, node)
        if node.field.lower() == "email.domain":
            value = str(value).lower()
        comparisons: dict[str, ColumnElement[bool]] = {
            "=": column == value,
            "!=": column != value,
            "<": column < value,
            "<=": column <= value,
            ">": column > value,
            ">=": column >= value,
        }
        return comparisons[node.op]

    @staticmethod
    def _coerce(value: str | float, kind: PropertyKind, node: Compare | InSet) -> Any:
        if kind is PropertyKind.NUMBER:
            if not isinstance(value, float):
                raise SegmentError(node.position, f"{node.field} is a number; compare it to one")
            return value
        if kind is PropertyKind.BOOLEAN:
            if value not in ("true", "false"):
                raise SegmentError(node.position, f"{node.field} is true or false")
            return value == "true"
        if isinstance(value, float):
            raise SegmentError(node.position, f"{node.field} is text; put the value in quotes")
        return value

    def _engagement(self, node: Engagement) -> ColumnElement[bool]:
        kind = EventType.OPENED if node.kind == "opened" else EventType.CLICKED
        # Correlated EXISTS: probed through the events' contact index for the
        # contacts the cheaper terms left, rather than materializing every
        # recent event (twice as fast on SQLite; a semi-join on PostgreSQL).
        events = exists().where(Event.contact_id == Contact.id, Event.type == kind)
        if node.days is not None:
            events = events.where(Event.occurred_at >= self._now - dt.timedelta(days=node.days))
        if node.campaign is not None:
            events = events.where(Event.campaign_id == node.campaign)
        return events

    def _when(self, node: When) -> ColumnElement[bool]:
        if node.mode == "within":
            since = self._now - dt.timedelta(days=int(node.value))
            low: dt.datetime | None = since
            high: dt.datetime | None = None
        else:
            try:
                day = dt.datetime.fromisoformat(str(node.value))
            except ValueError:
                raise SegmentError(node.position, 'expected a date like "2026-01-31"') from None
            moment = day if day.tzinfo else day.replace(tzinfo=dt.UTC)
            low, high = (moment, None) if node.mode == "after" else (None, moment)
        if node.kind == "created":
            return _between(Contact.created_at, low, high)
        if node.kind == "subscribed":
            return exists().where(
                Subscription.contact_id == Contact.id,
                Subscription.status == S.SUBSCRIBED,
                _between(Subscription.updated_at, low, high),
            )
        return exists().where(
            ConsentRecord.contact_id == Contact.id,
            ConsentRecord.action.in_(
                [ConsentAction.GIVEN, ConsentAction.CONFIRMED, ConsentAction.RECONFIRMED]
            ),
            _between(ConsentRecord.occurred_at, low, high),
        )


def _between(column: Any, low: dt.datetime | None, high: dt.datetime | None) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = true()
    if low is not None:
        condition = and_(condition, column >= low)
    if high is not None:
        condition = and_(condition, column < high)
    return condition if low is not None or high is not None else false()
