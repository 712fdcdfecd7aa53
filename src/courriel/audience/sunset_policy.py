"""The sunset policy of a tenant's lists: set per list, counted, and the re-engagement
segment of the contacts it leaves out (the rule itself: audience/sunset.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, func, select

from courriel.audience.models import Contact, MailingList, Subscription, SubscriptionStatus
from courriel.audience.segments.service import CountedSegment, SegmentService
from courriel.audience.sunset import MAX_MONTHS, list_months, sunset_subscription
from courriel.core.audit import record_entry
from courriel.core.clock import Clock
from courriel.core.db import get_or_not_found, transaction
from courriel.core.errors import InvalidInputError
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage


@dataclass(frozen=True)
class SunsetSummary:
    """A list's policy and how many of its subscribers it leaves out now."""

    list_id: str
    months: int | None
    sunset: int
    subscribed: int
    segment_expression: str


class SunsetService:
    """The sunset policy of the principal's tenant's lists."""

    def __init__(self, storage: Storage, clock: Clock, segments: SegmentService) -> None:
        self._storage = storage
        self._clock = clock
        self._segments = segments

    def reengagement_segment(self, principal: Principal, list_id: str) -> CountedSegment:
        """Save the segment of a list's sunset contacts, to aim a re-engagement campaign at.

        The segment is ``sunset "<list id>"``: it follows the list's policy as
        it changes. A campaign sent to it must include sunset contacts (its
        plan's `include_sunset`), or the policy would leave them all out again.
        """
        found = self.get_list(principal, list_id)
        if found.sunset_months is None:
            raise InvalidInputError(
                "sunset_months", "the sunset policy of this list is off: set its months first"
            )
        return self._segments.create(
            principal, f"Re-engagement: {found.name}"[:200], f'sunset "{list_id}"'
        )

    def get_list(self, principal: Principal, list_id: str) -> MailingList:
        principal.require(Capability.LISTS_READ)
        principal.require_list(list_id)
        with self._storage.tenant(principal.tenant_id)() as session:
            found = get_or_not_found(session, MailingList, list_id, "list")
            session.expunge(found)
        return found

    def set_months(self, principal: Principal, list_id: str, months: int | None) -> MailingList:
        """Turn the policy on (1 to 120 months) or off (None) for a list (audited)."""
        principal.require(Capability.LISTS_WRITE)
        principal.require_list(list_id)
        if months is not None and not 1 <= months <= MAX_MONTHS:
            raise InvalidInputError(
                "sunset_months", f"must be between 1 and {MAX_MONTHS}, or null (off)"
            )
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            found = get_or_not_found(session, MailingList, list_id, "list")
            found.sunset_months = months
            record_entry(
                session,
                self._clock.now(),
                principal,
                "list.sunset_changed",
                f"list:{list_id}",
                {"sunset_months": months},
            )
            session.flush()
            session.expunge(found)
        return found

    def summary(self, principal: Principal, list_id: str) -> SunsetSummary:
        """How many of a list's subscribers are sunset now, and the segment that holds them."""
        principal.require(Capability.LISTS_READ)
        principal.require_list(list_id)
        now = self._clock.now()
        with self._storage.tenant(principal.tenant_id)() as session:
            found = get_or_not_found(session, MailingList, list_id, "list")
            on_list = and_(
                Subscription.contact_id == Contact.id,
                Subscription.list_id == list_id,
                Subscription.status == SubscriptionStatus.SUBSCRIBED,
            )
            count = select(func.count()).select_from(Contact)
            subscribed = int(session.scalar(count.where(exists().where(on_list))) or 0)
            months = list_months(session, [list_id]).get(list_id)
            sunset = 0
            if months is not None:
                condition = exists().where(on_list, sunset_subscription(Subscription, months, now))
                sunset = int(session.scalar(count.where(condition)) or 0)
        return SunsetSummary(
            list_id=list_id,
            months=found.sunset_months,
            sunset=sunset,
            subscribed=subscribed,
            segment_expression=f'sunset "{list_id}"',
        )
