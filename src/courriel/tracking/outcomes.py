"""Delivery outcomes into the tenant's event log, with the suppressions they cause.

See `courriel.delivery.ports.OutcomeSink`: the delivery engine reports what
happened to each message; here it becomes events (counted, announced to
webhooks) in the tenant's database, and a hard bounce suppresses the
address in the same transaction. Every event has a dedupe key, so a report
repeated after a crash counts once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from courriel.audience.models import SuppressionReason
from courriel.audience.reactions import suppress_contact
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.storage import Storage
from courriel.delivery.ports import Deferral
from courriel.delivery.reporting import FinalOutcome
from courriel.delivery.spool import FinishedMessage
from courriel.events.models import Event, EventType
from courriel.events.recorder import NewEvent, record_events

_EVENT = {
    FinalOutcome.DELIVERED: EventType.DELIVERED,
    FinalOutcome.HARD_BOUNCE: EventType.BOUNCED,
    FinalOutcome.SOFT_BOUNCE: EventType.BOUNCED,
    FinalOutcome.BLOCKED: EventType.BLOCKED,
    FinalOutcome.EXPIRED: EventType.EXPIRED,
}


class TenantOutcomes:
    """See `courriel.delivery.ports.OutcomeSink`."""

    def __init__(self, storage: Storage, clock: Clock, secret_key: bytes) -> None:
        self._storage = storage
        self._clock = clock
        self._secret_key = secret_key

    def record(
        self,
        tenant_id: str,
        finished: Sequence[FinishedMessage],
        deferred: Sequence[Deferral],
    ) -> None:
        """See `OutcomeSink.record`."""
        now = self._clock.now()
        events = [_final_event(m, now) for m in finished]
        events.extend(_deferred_event(d) for d in deferred)
        if not events:
            return

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
        hard = any(m.outcome == FinalOutcome.HARD_BOUNCE for m in finished)
        with transaction(self._storage.tenant(tenant_id)) as session:
            record_events(session, events, reactions=[react] if hard else [])


def _final_event(m: FinishedMessage, now: dt.datetime) -> NewEvent:
    outcome = FinalOutcome(m.outcome or FinalOutcome.EXPIRED)
    detail: dict[str, object] = {"code": m.last_code, "reply": m.last_reply}
    if outcome in (FinalOutcome.HARD_BOUNCE, FinalOutcome.SOFT_BOUNCE):
        detail["bounce"] = "hard" if outcome is FinalOutcome.HARD_BOUNCE else "soft"
    return NewEvent(
        type=_EVENT[outcome],
        # When the receiving server answered, not when this report is written.
        occurred_at=m.finished_at or now,
        campaign_id=m.campaign_id,
        message_id=m.message_id,
        contact_id=m.contact_id,
        lane=m.lane,
        detail=detail,
        dedupe_key=f"{m.message_id}:final",
    )


def _deferred_event(d: Deferral) -> NewEvent:
    m = d.message
    return NewEvent(
        type=EventType.DEFERRED,
        occurred_at=d.at,
        campaign_id=m.campaign_id,
        message_id=m.message_id,
        contact_id=m.contact_id,
        lane=d.lane,
        detail={"code": d.code, "reply": d.reply[:500], "attempt": m.attempts + 1},
        dedupe_key=f"{m.message_id}:deferred:{m.attempts + 1}",
    )
