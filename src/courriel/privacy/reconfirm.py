"""Confirming a re-permission request from the link in its email.

The token is signed for this one purpose and expires at the request's
deadline; a token made for anything else (a sign-up confirmation, a
preferences link) does not verify here. Confirming records `reconfirmed` in
the consent ledger with the visitor's IP and browser, closes the request and
leaves an entry in the audit trail.
"""

from __future__ import annotations

from sqlalchemy import select

from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    ConsentSource,
    MailingList,
    Subscription,
)
from courriel.audience.models import SubscriptionStatus as S
from courriel.audience.signup import Visitor
from courriel.core.audit import record_entry
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError
from courriel.core.storage import Storage
from courriel.core.tokens import verify
from courriel.privacy.models import (
    REPERMISSION_MOVES,
    ListGovernance,
    Repermission,
    RepermissionStatus,
)
from courriel.privacy.repermission import PURPOSE


class Reconfirmation:
    """The public side of re-permission: one link, one confirmation."""

    def __init__(self, storage: Storage, clock: Clock, secret_key: bytes) -> None:
        self._storage = storage
        self._clock = clock
        self._key = secret_key

    def _request(self, token: str) -> tuple[str, str] | None:
        payload = verify(self._key, PURPOSE, token, self._clock.now())
        if payload is None:
            return None
        return str(payload.get("t", "")), str(payload.get("r", ""))

    def confirm(self, token: str, visitor: Visitor) -> str | None:  # noqa: PLR0911 (bad links)
        """The list's name when the request is (now) confirmed; None for any bad link."""
        found = self._request(token)
        if found is None:
            return None
        tenant_id, request_id = found
        now = self._clock.now()
        try:
            factory = self._storage.tenant(tenant_id)
        except NotFoundError:
            return None
        with transaction(factory) as session:
            request = session.get(Repermission, request_id, with_for_update=True)
            if request is None:
                return None
            mailing_list = session.get(MailingList, request.list_id)
            if mailing_list is None:
                return None
            if request.status is RepermissionStatus.CONFIRMED:
                return mailing_list.name  # the link followed twice
            if RepermissionStatus.CONFIRMED not in REPERMISSION_MOVES[request.status]:
                return None
            if request.deadline <= now:
                return None  # the run that lapses it has not come by yet
            sub = session.scalar(
                select(Subscription).where(
                    Subscription.list_id == request.list_id,
                    Subscription.contact_id == request.contact_id,
                )
            )
            if sub is None or sub.status is not S.SUBSCRIBED:
                return None  # they left meanwhile; this link does not bring them back
            rules = session.get(ListGovernance, request.list_id)
            request.status = RepermissionStatus.CONFIRMED
            request.open_slot = None
            request.resolved_at = now
            session.add(
                ConsentRecord(
                    contact_id=request.contact_id,
                    list_id=request.list_id,
                    action=ConsentAction.RECONFIRMED,
                    source=ConsentSource.FORM,
                    legal_basis=rules.legal_basis if rules else "consent",
                    purpose_text=mailing_list.purpose,
                    purpose_version=mailing_list.purpose_version,
                    ip=(visitor.ip or "")[:45] or None,
                    user_agent=(visitor.user_agent or "")[:500] or None,
                    principal="public",
                    occurred_at=now,
                )
            )
            record_entry(
                session,
                now,
                "public",
                "consent.reconfirmed",
                f"contact:{request.contact_id}",
                {"list_id": request.list_id, "request_id": request.id},
                visitor.ip,
            )
            return mailing_list.name
