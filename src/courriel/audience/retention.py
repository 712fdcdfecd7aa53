"""Per-list retention: pending sign-ups that were never confirmed are not kept forever."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    ConsentSource,
    MailingList,
    Subscription,
)
from courriel.audience.models import SubscriptionStatus as S
from courriel.core.clock import Clock
from courriel.core.db import get_or_not_found, transaction
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage


class RetentionService:
    """Applies a list's retention period."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    def apply(self, principal: Principal, list_id: str) -> int:
        """Forget pending subscriptions older than the list's retention; ledger says `expired`.

        Unsubscribed, bounced and complained subscriptions are kept: they are
        what stops the address from being subscribed again.
        """
        principal.require(Capability.LISTS_WRITE)
        principal.require_list(list_id)
        now = self._clock.now()
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            found = get_or_not_found(session, MailingList, list_id, "list")
            if found.retention_days is None:
                return 0
            cutoff = now - dt.timedelta(days=found.retention_days)
            stale = list(
                session.scalars(
                    select(Subscription).where(
                        Subscription.list_id == list_id,
                        Subscription.status == S.PENDING,
                        Subscription.updated_at < cutoff,
                    )
                )
            )
            for sub in stale:
                session.add(
                    ConsentRecord(
                        contact_id=sub.contact_id,
                        list_id=list_id,
                        action=ConsentAction.EXPIRED,
                        source=ConsentSource.ADMIN,
                        legal_basis="consent",
                        purpose_text=f"not confirmed within {found.retention_days} days",
                        purpose_version=found.purpose_version,
                        principal=principal.actor,
                        occurred_at=now,
                    )
                )
                session.delete(sub)
            return len(stale)
