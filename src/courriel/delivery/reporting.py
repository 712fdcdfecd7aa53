"""Reporting delivery outcomes to the tenant databases as events.

The worker first records an outcome in the spool (one database, one
transaction), then reports it to the tenant's database, then removes the
spool row. A crash between the steps repeats the report, which the events'
dedupe keys make harmless: nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.orm import Session

from courriel.audience.models import SuppressionReason
from courriel.audience.reactions import suppress_contact
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError
from courriel.core.storage import Storage
from courriel.delivery.spool import ClaimedMessage, FinishedMessage, Spool
from courriel.tracking.models import Event, EventType
from courriel.tracking.recorder import NewEvent, record_events


class FinalOutcome(enum.StrEnum):
    """The fate of a spooled message, as stored in its spool row."""

    DELIVERED = "delivered"
    HARD_BOUNCE = "hard-bounce"
    SOFT_BOUNCE = "soft-bounce"
    BLOCKED = "blocked"
    EXPIRED = "expired"


_EVENT = {
    FinalOutcome.DELIVERED: EventType.DELIVERED,
    FinalOutcome.HARD_BOUNCE: EventType.BOUNCED,
    FinalOutcome.SOFT_BOUNCE: EventType.BOUNCED,
    FinalOutcome.BLOCKED: EventType.BLOCKED,
    FinalOutcome.EXPIRED: EventType.EXPIRED,
}


class OutcomeReporter:
    """Moves final outcomes from the spool into tenant event logs."""

    def __init__(self, storage: Storage, spool: Spool, clock: Clock, secret_key: bytes) -> None:
        self._storage = storage
        self._spool = spool
        self._clock = clock
        self._secret_key = secret_key

    def report_finished(self, limit: int = 1000) -> int:
        """Report up to `limit` finished messages; return how many left the spool."""
        rows = self._spool.finished(limit)
        by_tenant: dict[str, list[FinishedMessage]] = defaultdict(list)
        for row in rows:
            by_tenant[row.tenant_id].append(row)
        done: list[int] = []
        for tenant_id, messages in by_tenant.items():
            # A deleted tenant's messages simply leave the spool.
            with contextlib.suppress(NotFoundError):
                self._report_tenant(tenant_id, messages)
            done.extend(m.id for m in messages)
        self._spool.remove(done)
        return len(done)

    def _report_tenant(self, tenant_id: str, messages: Sequence[FinishedMessage]) -> None:
        now = self._clock.now()
        events = []
        for m in messages:
            outcome = FinalOutcome(m.outcome or FinalOutcome.EXPIRED)
            detail: dict[str, object] = {"code": m.last_code, "reply": m.last_reply}
            if outcome in (FinalOutcome.HARD_BOUNCE, FinalOutcome.SOFT_BOUNCE):
                detail["bounce"] = "hard" if outcome is FinalOutcome.HARD_BOUNCE else "soft"
            events.append(
                NewEvent(
                    type=_EVENT[outcome],
                    occurred_at=now,
                    campaign_id=m.campaign_id,
                    message_id=m.message_id,
                    contact_id=m.contact_id,
                    lane=m.lane,
                    detail=detail,
                    dedupe_key=f"{m.message_id}:final",
                )
            )

        def react(session: Session, event: Event) -> None:
            # A hard bounce proves the address does not exist: never mail it again.
            if event.detail.get("bounce") == "hard" and event.contact_id is not None:
                suppress_contact(
                    session,
                    secret_key=self._secret_key,
                    tenant_id=tenant_id,
                    contact_id=event.contact_id,
                    reason=SuppressionReason.HARD_BOUNCE,
                    detail=str(event.detail.get("reply", ""))[:500],
                    now=now,
                )

        # Only a hard bounce reacts; without one, no event is turned into a row object.
        hard = any(m.outcome == FinalOutcome.HARD_BOUNCE for m in messages)
        with transaction(self._storage.tenant(tenant_id)) as session:
            record_events(session, events, reactions=[react] if hard else [])

    def report_deferred(
        self,
        message: ClaimedMessage,
        code: int | None,
        reply: str,
        lane: str | None,
        when: dt.datetime,
    ) -> None:
        """Record one deferred attempt of a message (it stays in the spool)."""
        event = NewEvent(
            type=EventType.DEFERRED,
            occurred_at=when,
            campaign_id=message.campaign_id,
            message_id=message.message_id,
            contact_id=message.contact_id,
            lane=lane,
            detail={"code": code, "reply": reply[:500], "attempt": message.attempts + 1},
            dedupe_key=f"{message.message_id}:deferred:{message.attempts + 1}",
        )
        try:
            with transaction(self._storage.tenant(message.tenant_id)) as session:
                record_events(session, [event])
        except NotFoundError:
            return
