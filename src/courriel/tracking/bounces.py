"""Turning returned mail into events: bounces, complaints and spam-trap hits, with suppression.

The envelope recipient of a returned message is the VERP return path of the
message it is about (`courriel.delivery.verp`), so it names the tenant and
the message; the tag in it makes forged returns harmless. The event and the
suppression it causes are written in one tenant transaction, and each has a
dedupe key, so a report delivered twice counts once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.audience.models import Contact, SuppressionReason
from courriel.audience.reactions import suppress_contact
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError
from courriel.core.storage import Storage
from courriel.delivery.replies import Outcome
from courriel.delivery.returns import ReturnKind, ReturnReport, read_return
from courriel.delivery.verp import ReturnPath, decode_return_path
from courriel.events.models import Event, EventType
from courriel.events.recorder import NewEvent, record_events

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReturnOutcome:
    """What one returned message did: ``event`` recorded (or None) and why."""

    kind: ReturnKind
    event: EventType | None
    suppressed: bool


class ReturnProcessor:
    """Records bounces and complaints that arrive at VERP return paths."""

    def __init__(self, storage: Storage, clock: Clock, secret_key: bytes) -> None:
        self._storage = storage
        self._clock = clock
        self._secret_key = secret_key

    def accepts(self, address: str) -> bool:
        """Whether ``address`` is one of our return paths (checked at RCPT)."""
        return decode_return_path(self._secret_key, address) is not None

    def process(self, rcpt: str, data: bytes) -> ReturnOutcome:
        """Read ``data``, returned to ``rcpt``, and record what it says."""
        report = read_return(data)
        origin = decode_return_path(self._secret_key, rcpt)
        if origin is None and report.original_mail_from:
            # Feedback loops often report to a fixed address; the report
            # still quotes the original envelope sender, our VERP address.
            origin = decode_return_path(self._secret_key, report.original_mail_from)
        if origin is None or report.kind in (ReturnKind.AUTO_REPLY, ReturnKind.UNKNOWN):
            # Out-of-office replies and what we cannot read never suppress anyone.
            return ReturnOutcome(report.kind, None, suppressed=False)
        try:
            return self._record(origin, report)
        except NotFoundError:
            return ReturnOutcome(report.kind, None, suppressed=False)

    def _record(self, origin: ReturnPath, report: ReturnReport) -> ReturnOutcome:
        now = self._clock.now()
        with transaction(self._storage.tenant(origin.tenant_id)) as session:
            known = session.scalars(
                select(Event).where(Event.message_id == origin.message_id).limit(1)
            ).first()
            if known is None:
                return ReturnOutcome(report.kind, None, suppressed=False)
            contact_id, campaign_id = known.contact_id, known.campaign_id
            event, reason, detail = self._event(session, report, contact_id)
            if event is None:
                return ReturnOutcome(report.kind, None, suppressed=False)
            key = {
                EventType.COMPLAINED: "complaint",
                EventType.SPAM_TRAP_HIT: "spam-trap",
            }.get(event, "returned-bounce")
            stored = record_events(
                session,
                [
                    NewEvent(
                        type=event,
                        occurred_at=now,
                        campaign_id=campaign_id,
                        message_id=origin.message_id,
                        contact_id=contact_id,
                        detail=detail,
                        dedupe_key=f"{origin.message_id}:{key}",
                    )
                ],
            )
            suppressed = False
            if stored and reason is not None and contact_id is not None:
                suppress_contact(
                    session,
                    secret_key=self._secret_key,
                    tenant_id=origin.tenant_id,
                    contact_id=contact_id,
                    reason=reason,
                    detail=str(detail.get("reply", detail.get("feedback", "")))[:500],
                    now=now,
                )
                suppressed = True
            return ReturnOutcome(report.kind, event, suppressed=suppressed)

    @staticmethod
    def _event(
        session: Session, report: ReturnReport, contact_id: str | None
    ) -> tuple[EventType | None, SuppressionReason | None, dict[str, object]]:
        if report.kind in (ReturnKind.COMPLAINT, ReturnKind.SPAM_TRAP):
            return _feedback_event(report)
        if report.kind is ReturnKind.DSN:
            if not report.failed:
                return None, None, {}
            failure = report.failed[0]
            verdict = failure.verdict
            if verdict.outcome not in (Outcome.BOUNCED, Outcome.BLOCKED):
                return None, None, {}
            hard = verdict.outcome is Outcome.BOUNCED and verdict.hard
            detail: dict[str, object] = {
                "bounce": "hard" if hard else "soft",
                "status": failure.status,
                "reply": failure.diagnostic[:500],
                "reason": verdict.reason,
                "source": "dsn",
            }
            event = EventType.BOUNCED if verdict.outcome is Outcome.BOUNCED else EventType.BLOCKED
            return event, SuppressionReason.HARD_BOUNCE if hard else None, detail
        # A non-standard bounce: hard only when it names the address we sent to.
        contact = session.get(Contact, contact_id) if contact_id else None
        hard = contact is not None and contact.email.lower() in report.permanent
        detail = {"bounce": "hard" if hard else "soft", "source": "bounce"}
        return EventType.BOUNCED, SuppressionReason.HARD_BOUNCE if hard else None, detail


def _feedback_event(
    report: ReturnReport,
) -> tuple[EventType | None, SuppressionReason | None, dict[str, object]]:
    detail: dict[str, object] = {"feedback": report.feedback_type}
    if report.kind is ReturnKind.SPAM_TRAP:
        # A trap is nobody's mailbox (a pristine trap never was, a recycled
        # one is long abandoned): it is suppressed like an address that does
        # not exist, and the hit counts against the sending policy.
        return EventType.SPAM_TRAP_HIT, SuppressionReason.HARD_BOUNCE, detail | {"source": "trap"}
    # RFC 5965 §7.3: "abuse" and "fraud" are complaints; "not-spam" or a
    # virus report are not the recipient's wish to stop.
    if report.feedback_type not in ("abuse", "fraud", "other"):
        return None, None, {}
    return EventType.COMPLAINED, SuppressionReason.COMPLAINT, detail | {"source": "arf"}
