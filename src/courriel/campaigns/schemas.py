"""API shapes of campaigns and their statistics."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from courriel.campaigns.models import MailClass
from courriel.core.schemas import Input


class CampaignIn(Input):
    name: str = Field(min_length=1, max_length=200)
    template_id: str = Field(min_length=1, max_length=40)
    lists: list[str] = Field(min_length=1, max_length=100)
    from_email: str = Field(max_length=320)
    from_name: str = Field(default="", max_length=200)
    mail_class: MailClass = MailClass.MARKETING


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
