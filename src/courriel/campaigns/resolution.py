"""Audience resolution: who of a campaign's lists receives it, one batch at a time.

A contact is in the audience of a marketing campaign when it is `subscribed`
(so not pending double opt-in, unsubscribed, bounced, complained or
suppressed) on one of the campaign's lists, its consent on that list was not
withdrawn or expired since it was last given, and it matches the campaign's
segment if there is one, and is not left out by the sunset policy of that
list (no open or click in its `sunset_months`, audience/sunset.py) unless
the campaign's plan includes sunset contacts. Transactional mail needs no marketing consent, but a
contact whose address bounced, complained or was suppressed is never in it.
(Addresses on the suppression list are dropped again when each message is
composed, since that list holds keyed hashes only; for transactional mail an
unsubscribe suppression does not count, a bounce or complaint does.)

Resolution never loads the audience: each batch reads the next `limit`
contact ids after a keyset cursor and writes them as `pending` recipients
with INSERT … ON CONFLICT DO NOTHING on the unique key (campaign, contact),
so overlapping lists, retries, a restart or two concurrent fan-outs still
give each contact exactly one message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    Contact,
    Segment,
    Subscription,
    SubscriptionStatus,
)
from courriel.audience.segments.service import segment_condition
from courriel.audience.sunset import list_months, sunset_on_lists
from courriel.campaigns.models import (
    Campaign,
    CampaignList,
    CampaignRecipient,
    MailClass,
    RecipientState,
)
from courriel.campaigns.plan import CampaignPlan
from courriel.core.clock import Clock
from courriel.core.db import insert_for
from courriel.core.ids import new_id

_ENDS_CONSENT = (ConsentAction.WITHDRAWN, ConsentAction.EXPIRED)
_GIVES_CONSENT = (ConsentAction.GIVEN, ConsentAction.CONFIRMED, ConsentAction.RECONFIRMED)
# Statuses that still allow transactional mail (no marketing consent needed).
_TRANSACTIONAL_OK = (
    SubscriptionStatus.SUBSCRIBED,
    SubscriptionStatus.PENDING,
    SubscriptionStatus.UNSUBSCRIBED,
)


def _consent_ended(subscription: Any) -> ColumnElement[bool]:
    # The latest word on this list (or on all lists) is a withdrawal or expiry:
    # such a record with no later giving, confirming or reconfirming one.
    ended = aliased(ConsentRecord)
    renewed = aliased(ConsentRecord)
    return exists().where(
        ended.contact_id == subscription.contact_id,
        or_(ended.list_id == subscription.list_id, ended.list_id.is_(None)),
        ended.action.in_(_ENDS_CONSENT),
        ~exists().where(
            renewed.contact_id == ended.contact_id,
            or_(renewed.list_id == subscription.list_id, renewed.list_id.is_(None)),
            renewed.action.in_(_GIVES_CONSENT),
            renewed.id > ended.id,
        ),
    )


def eligible(
    session: Session,
    campaign: Campaign,
    plan: CampaignPlan | None,
    clock: Clock,
    *,
    sunset: bool | None = None,
) -> ColumnElement[bool]:
    """The condition on `Contact` of being in the campaign's audience.

    `sunset` says whether the lists' sunset policy leaves contacts out (None:
    as the plan says, which is yes unless it includes them).
    """
    sub = aliased(Subscription)
    lists = select(CampaignList.list_id).where(CampaignList.campaign_id == campaign.id)
    if campaign.mail_class is MailClass.MARKETING:
        on_list = exists().where(
            sub.contact_id == Contact.id,
            sub.list_id.in_(lists),
            sub.status == SubscriptionStatus.SUBSCRIBED,
            ~_consent_ended(sub),
        )
        if sunset is None:
            sunset = plan is None or not plan.include_sunset
        months = list_months(session, lists) if sunset else {}
        if months:
            on_list = on_list.where(~sunset_on_lists(sub, months, clock.now()))
    else:
        on_list = exists().where(
            sub.contact_id == Contact.id,
            sub.list_id.in_(lists),
            sub.status.in_(_TRANSACTIONAL_OK),
        )
    # A contact under restricted processing (GDPR Art. 18) gets no mail of
    # any class until the restriction is lifted.
    condition: ColumnElement[bool] = and_(on_list, Contact.restricted.is_(false()))
    if plan is not None and plan.id_buckets:
        condition = and_(condition, bucket_of(Contact.id).in_(plan.id_buckets))
    if plan is not None and plan.exclude_buckets:
        condition = and_(condition, bucket_of(Contact.id).not_in(plan.exclude_buckets))
    if plan is not None and plan.segment_id is not None:
        segment = session.get(Segment, plan.segment_id)
        if segment is not None:
            condition = and_(condition, segment_condition(session, segment.expression, clock))
    return condition


def left_out_by_sunset(
    session: Session, campaign: Campaign, plan: CampaignPlan | None, clock: Clock
) -> int:
    """How many contacts of the audience the lists' sunset policy leaves out.

    Counted whether or not the plan includes them, so the campaign check can
    say what the override adds; 0 for transactional mail.
    """
    if campaign.mail_class is not MailClass.MARKETING:
        return 0
    count = select(func.count()).select_from(Contact)
    everyone = session.scalar(count.where(eligible(session, campaign, plan, clock, sunset=False)))
    kept = session.scalar(count.where(eligible(session, campaign, plan, clock, sunset=True)))
    return int(everyone or 0) - int(kept or 0)


def bucket_of(contact_id: Any) -> Any:
    """The A/B bucket of a contact: the first two characters of its random id (1,024)."""
    # Ids are "con_" + base32 of 128 random bits, so these characters are uniform.
    return func.substr(contact_id, 5, 2)


def not_yet_recipient(campaign_id: str) -> ColumnElement[bool]:
    """The contact has no message of this campaign yet."""
    return ~exists().where(
        CampaignRecipient.campaign_id == campaign_id,
        CampaignRecipient.contact_id == Contact.id,
    )


def local_instant(local_time: str, zone: str, fallback: str) -> dt.datetime:
    """When the wall-clock `local_time` happens in `zone` (an unknown zone: `fallback`)."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo(fallback)
    naive = dt.datetime.fromisoformat(local_time)
    return naive.replace(tzinfo=tz).astimezone(dt.UTC)


def zones_due(
    session: Session,
    base: ColumnElement[bool],
    plan: CampaignPlan,
    now: dt.datetime,
) -> tuple[ColumnElement[bool], dt.datetime | None]:
    """For local-time delivery: the condition of contacts whose local time has come,
    and the next instant another zone's turn comes (None when none is left)."""
    assert plan.local_time is not None
    zones: Sequence[str | None] = session.scalars(
        select(Contact.timezone).where(base).distinct()
    ).all()
    due: list[ColumnElement[bool]] = []
    later: list[dt.datetime] = []
    for zone in zones:
        at = local_instant(plan.local_time, zone or plan.default_timezone, plan.default_timezone)
        if at <= now:
            due.append(Contact.timezone.is_(None) if zone is None else Contact.timezone == zone)
        else:
            later.append(at)
    return (or_(*due) if due else ~true()), (min(later) if later else None)


def resolve_batch(
    session: Session,
    campaign: Campaign,
    plan: CampaignPlan,
    limit: int,
    clock: Clock,
) -> tuple[int, dt.datetime | None]:
    """Add up to `limit` next contacts as pending recipients.

    Returns how many were added and, for local-time delivery, when the next
    time zone becomes due (None otherwise).
    """
    now = clock.now()
    base = and_(eligible(session, campaign, plan, clock), not_yet_recipient(campaign.id))
    next_due: dt.datetime | None = None
    query = select(Contact.id).where(base)
    if plan.local_time is not None:
        # Zones are taken as they come due, so no single cursor orders them.
        due, next_due = zones_due(session, base, plan, now)
        query = query.where(due)
    elif plan.resolved_through is not None:
        query = query.where(Contact.id > plan.resolved_through)
    contact_ids = list(session.scalars(query.order_by(Contact.id).limit(limit)))
    if not contact_ids:
        return 0, next_due
    insert = insert_for(session)
    session.execute(
        insert(CampaignRecipient).on_conflict_do_nothing(
            index_elements=[CampaignRecipient.campaign_id, CampaignRecipient.contact_id]
        ),
        [
            {
                "id": new_id("msg"),
                "campaign_id": campaign.id,
                "contact_id": contact_id,
                "state": RecipientState.PENDING,
                "reason": "",
                "created_at": now,
            }
            for contact_id in contact_ids
        ],
    )
    if plan.local_time is None:
        plan.resolved_through = contact_ids[-1]
    return len(contact_ids), next_due


def plan_of(session: Session, campaign_id: str) -> CampaignPlan:
    """The campaign's plan, created empty when it has none (campaigns sent without one)."""
    plan = session.get(CampaignPlan, campaign_id)
    if plan is not None:
        return plan
    insert = insert_for(session)
    session.execute(
        insert(CampaignPlan)
        .values(campaign_id=campaign_id, default_timezone="UTC")
        .on_conflict_do_nothing(index_elements=[CampaignPlan.campaign_id])
    )
    plan = session.get(CampaignPlan, campaign_id)
    assert plan is not None
    return plan
