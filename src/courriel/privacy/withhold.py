"""Taking one person's waiting messages out of the spool (erasure, restriction).

A message a worker already holds is in flight and finishes its attempt; every
other message to the person is deleted from the spool, and its campaign
recipient becomes `skipped` with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from courriel.campaigns.models import CampaignRecipient, RecipientState
from courriel.core.db import transaction
from courriel.delivery.models import SpoolMessage, SpoolState

_CHUNK = 500


def queued_message_ids(session: Session, contact_id: str) -> list[str]:
    """The person's campaign messages that may still be waiting in the spool."""
    return list(
        session.scalars(
            select(CampaignRecipient.id).where(
                CampaignRecipient.contact_id == contact_id,
                CampaignRecipient.state == RecipientState.QUEUED,
            )
        )
    )


def take_from_spool(
    spool: sessionmaker[Session], tenant_id: str, contact_id: str, message_ids: Sequence[str]
) -> list[str]:
    """Delete the person's waiting spool rows; return the message ids deleted.

    Campaign messages are found through the unique (tenant, message) index;
    other mail to the person (confirmations, notices) through the (tenant,
    campaign) index with no campaign, so the spool is never scanned whole.
    """
    taken: list[str] = []
    with transaction(spool) as session:
        for at in range(0, max(len(message_ids), 1), _CHUNK):
            chunk = list(message_ids[at : at + _CHUNK])
            result = session.execute(
                delete(SpoolMessage)
                .where(
                    SpoolMessage.tenant_id == tenant_id,
                    SpoolMessage.state == SpoolState.QUEUED,
                    or_(
                        SpoolMessage.message_id.in_(chunk),
                        and_(
                            SpoolMessage.campaign_id.is_(None),
                            SpoolMessage.contact_id == contact_id,
                        ),
                    ),
                )
                .returning(SpoolMessage.message_id)
            )
            taken.extend(result.scalars())
    return sorted(set(taken))


def mark_withdrawn(session: Session, message_ids: Sequence[str], reason: str) -> None:
    """Campaign recipients of withdrawn messages → skipped, with the reason.

    No event is added: the message was already counted as queued, and a
    second event would count the recipient twice in the campaign figures.
    """
    for at in range(0, len(message_ids), _CHUNK):
        session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.id.in_(list(message_ids[at : at + _CHUNK])))
            .values(state=RecipientState.SKIPPED, reason=reason)
        )
