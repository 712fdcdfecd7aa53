"""Taking a paused or cancelled campaign's waiting messages back out of the spool.

A message a worker already holds is in flight and may still go out; every
other one is deleted from the spool in one statement, so pause and cancel
take effect as soon as they are recorded. Paused messages go back to
`pending` and are composed again on resume (same message id, so the spool's
and the event log's unique keys keep them single); cancelled ones are
`skipped` with the reason "cancelled".
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from courriel.campaigns.models import CampaignRecipient, RecipientState
from courriel.core.db import transaction
from courriel.core.storage import Storage
from courriel.delivery.spool import Spool
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events

_CHUNK = 1000


def withdraw_unsent(
    storage: Storage,
    spool: Spool,
    tenant_id: str,
    campaign_id: str,
    now: dt.datetime,
    *,
    cancelled: bool,
) -> int:
    """Remove the campaign's waiting messages from the spool; return how many."""
    withdrawn = spool.withdraw(tenant_id, campaign_id)
    with transaction(storage.tenant(tenant_id)) as session:
        # Chunks keep each statement under SQLite's bound-parameter limit.
        for at in range(0, len(withdrawn), _CHUNK):
            session.execute(
                update(CampaignRecipient)
                .where(CampaignRecipient.id.in_(withdrawn[at : at + _CHUNK]))
                .values(state=RecipientState.PENDING)
            )
        if not cancelled:
            return len(withdrawn)
        rows = session.scalars(
            select(CampaignRecipient).where(
                CampaignRecipient.campaign_id == campaign_id,
                CampaignRecipient.state == RecipientState.PENDING,
            )
        ).all()
        for row in rows:
            row.state = RecipientState.SKIPPED
            row.reason = "cancelled"
        record_events(
            session,
            [
                NewEvent(
                    type=EventType.SKIPPED,
                    occurred_at=now,
                    campaign_id=campaign_id,
                    message_id=row.id,
                    contact_id=row.contact_id,
                    detail={"reason": "cancelled"},
                    dedupe_key=f"{row.id}:skipped",
                )
                for row in rows
            ],
        )
    return len(withdrawn)
