"""API shapes of campaigns: the campaign, its statistics, schedule, progress and A/B tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from courriel.campaigns.models import AbMetric, MailClass
from courriel.core.schemas import Input, Int64


class CampaignIn(Input):
    name: str = Field(min_length=1, max_length=200)
    template_id: str = Field(min_length=1, max_length=40)
    lists: list[str] = Field(min_length=1, max_length=100)
    from_email: str = Field(max_length=320)
    from_name: str = Field(default="", max_length=200)
    mail_class: MailClass = MailClass.MARKETING
    tracking: bool = Field(default=True, description="Track opens and clicks of this campaign")


class CampaignOut(BaseModel):
    id: str
    name: str
    status: str
    mail_class: str
    template_version_id: str
    from_email: str
    from_name: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    tracking: bool = True


class CampaignStatsOut(BaseModel):
    campaign_id: str
    status: str
    recipients: int
    queued: int
    skipped: int
    failed: int
    delivered: int
    deferred: int
    bounced: int
    blocked: int
    expired: int
    delivery_rate: float
    counts: dict[str, int]
    # Every figure of tracking (opens human/machine, unique clicks, hard/soft
    # bounces, …) and every rate computed from them; see docs/api.md.
    figures: dict[str, int] = {}
    rates: dict[str, float] = {}


class CampaignEditIn(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    from_email: str | None = Field(default=None, max_length=320)
    from_name: str | None = Field(default=None, max_length=200)
    tracking: bool | None = Field(default=None, description="Track opens and clicks")


class PlanIn(Input):
    segment_id: str | None = Field(default=None, max_length=40)
    rate_per_hour: Int64 | None = None
    include_sunset: bool = Field(
        default=False,
        description=(
            "Send to the lists' sunset contacts too (no open or click in the list's "
            "sunset_months): for a re-engagement campaign."
        ),
    )


class PlanOut(BaseModel):
    campaign_id: str
    segment_id: str | None
    scheduled_at: dt.datetime | None
    local_time: str | None
    default_timezone: str
    rate_per_hour: int | None
    include_sunset: bool = False


class ScheduleIn(Input):
    # Either an instant (with its UTC offset) …
    at: dt.datetime | None = None
    # … or a wall-clock time reached in each contact's own timezone.
    local_time: str | None = Field(default=None, max_length=16)
    default_timezone: str = Field(default="UTC", max_length=64)


class ProgressOut(BaseModel):
    campaign_id: str
    status: str
    pending: int
    queued: int
    sent: int
    delivered: int
    failed: int
    bounced: int
    blocked: int
    expired: int
    skipped: int


class VariantIn(Input):
    # A variant changes the template (subject and content) and/or the sender.
    template_id: str | None = Field(default=None, max_length=40)
    from_email: str | None = Field(default=None, max_length=320)
    from_name: str | None = Field(default=None, max_length=200)


class AbTestIn(Input):
    variants: list[VariantIn] = Field(min_length=2, max_length=10)
    test_share: Int64 = 20
    metric: AbMetric = AbMetric.OPENS
    wait_minutes: Int64 = 240


class AbVariantOut(BaseModel):
    label: str
    campaign_id: str


class AbTestOut(BaseModel):
    id: str
    campaign_id: str
    metric: str
    test_share: int
    wait_minutes: int
    status: str
    started_at: dt.datetime | None
    decided_at: dt.datetime | None
    winner_campaign_id: str | None
    results: dict[str, Any]
    variants: list[AbVariantOut] = []
