"""The one retry-or-expire decision: what an attempt leaves in the spool.

Every attempt's result, whether the receiving server answered, the
connection failed or DNS decided for a whole domain, goes through
`settlement_for`: a final outcome (delivered, bounced, blocked), or the time
of the next attempt, or expiry once the queue lifetime is over.
"""

from __future__ import annotations

import datetime as dt

from courriel.config import Settings
from courriel.delivery.replies import Classification, Outcome
from courriel.delivery.reporting import FinalOutcome
from courriel.delivery.spool import ClaimedMessage, Settlement


def backoff(settings: Settings, attempts: int) -> dt.timedelta:
    """The wait before the next attempt after ``attempts`` failed ones."""
    schedule = settings.retry_schedule_minutes
    return dt.timedelta(minutes=schedule[min(attempts, len(schedule) - 1)])


def final_outcome(verdict: Classification, code: int | None) -> FinalOutcome | None:
    """The final outcome of an attempt, or None when it should be retried."""
    if verdict.outcome is Outcome.DELIVERED:
        return FinalOutcome.DELIVERED
    if verdict.outcome is Outcome.BOUNCED:
        return FinalOutcome.HARD_BOUNCE if verdict.hard else FinalOutcome.SOFT_BOUNCE
    if verdict.outcome is Outcome.BLOCKED and (code is None or code >= 500):
        return FinalOutcome.BLOCKED
    return None


def settlement_for(
    message: ClaimedMessage,
    verdict: Classification,
    *,
    code: int | None,
    reply: str,
    lane: str | None,
    now: dt.datetime,
    settings: Settings,
    retry_at: dt.datetime | None = None,
) -> Settlement:
    """What one attempt of `message` leaves in the spool.

    `retry_at` is when the lane itself asks us back (a throttled lane
    resumes then); otherwise the retry schedule decides.
    """
    final = final_outcome(verdict, code)
    next_attempt: dt.datetime | None = None
    if final is None:
        next_attempt = retry_at or now + backoff(settings, message.attempts)
        if next_attempt > message.deadline_at:
            # RFC 5321 §4.5.4.1: give up once the queue lifetime is over.
            final, next_attempt = FinalOutcome.EXPIRED, None
    return Settlement(
        spool_id=message.id,
        message_id=message.message_id,
        outcome=final.value if final else None,
        next_attempt_at=next_attempt,
        code=code,
        reply=reply,
        lane=lane,
        answered_at=now,
    )
