"""The pieces of a retention run that read or change one list's rows.

`months_before` is the calendar arithmetic of the rules; the rest find the
lists with rules, the requests past their deadline, decide what a lapse
does, and anonymize a contact.
"""

from __future__ import annotations

import calendar
import datetime as dt

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from courriel.audience.models import ConsentRecord, Contact, Subscription
from courriel.audience.models import SubscriptionStatus as S
from courriel.privacy.models import (
    InactiveOutcome,
    ListGovernance,
    Repermission,
    RepermissionReason,
    RepermissionStatus,
)

ANONYMOUS_DOMAIN = "anonymized.invalid"  # RFC 2606: can never be a real address


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day and time `months` calendar months earlier (clamped to the month's end)."""
    years, month0 = divmod(moment.month - 1 - months, 12)
    year = moment.year + years
    day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)


def rules_in_force(session: Session, list_id: str | None) -> list[ListGovernance]:
    statement = select(ListGovernance).where(
        or_(ListGovernance.inactive_months.is_not(None), ListGovernance.consent_months.is_not(None))
    )
    if list_id is not None:
        statement = statement.where(ListGovernance.list_id == list_id)
    return list(session.scalars(statement.order_by(ListGovernance.list_id)))


def due_requests(session: Session, rules: ListGovernance, now: dt.datetime) -> list[Repermission]:
    return list(
        session.scalars(
            select(Repermission)
            .where(
                Repermission.list_id == rules.list_id,
                Repermission.status == RepermissionStatus.PENDING,
                Repermission.deadline <= now,
            )
            .order_by(Repermission.deadline, Repermission.id)
        )
    )


def outcome_of(session: Session, request: Repermission, rules: ListGovernance) -> str:
    if request.reason is RepermissionReason.CONSENT_EXPIRED:
        return "suppress"
    if rules.inactive_outcome is InactiveOutcome.REMOVE:
        return "remove"
    # Anonymizing would take the person from lists they still want: only
    # when this list is the last one holding them.
    elsewhere = session.scalar(
        select(func.count())
        .select_from(Subscription)
        .where(
            Subscription.contact_id == request.contact_id,
            Subscription.list_id != request.list_id,
            Subscription.status.in_([S.PENDING, S.SUBSCRIBED]),
        )
    )
    return "remove" if elsewhere else "anonymize"


def anonymize_contact(session: Session, contact_id: str, now: dt.datetime) -> None:
    contact = session.get(Contact, contact_id)
    if contact is None:
        return
    contact.email = f"anonymized-{contact.id.removeprefix('con_')}@{ANONYMOUS_DOMAIN}"
    contact.email_domain = ANONYMOUS_DOMAIN
    contact.first_name = contact.last_name = contact.language = contact.timezone = None
    contact.properties = {}
    contact.updated_at = now
    # The ledger stays (it proves what happened) but no longer says from where.
    session.execute(
        update(ConsentRecord)
        .where(ConsentRecord.contact_id == contact_id)
        .values(ip=None, user_agent=None)
    )
