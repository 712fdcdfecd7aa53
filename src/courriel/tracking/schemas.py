"""API shapes of events, statistics breakdowns and webhooks."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from courriel.core.schemas import Input


class EventOut(BaseModel):
    id: str
    type: str
    occurred_at: dt.datetime
    campaign_id: str | None
    message_id: str | None
    contact_id: str | None
    lane: str | None
    detail: dict[str, Any]


class FiguresOut(BaseModel):
    key: str
    figures: dict[str, int]
    rates: dict[str, float]
    # Per link: its position in the template; the key is its URL.
    position: int | None = None


class BreakdownOut(BaseModel):
    campaign_id: str | None
    dimension: str
    data: list[FiguresOut]


class WebhookIn(Input):
    url: str = Field(min_length=1, max_length=2048)
    event_types: list[str] = Field(min_length=1, max_length=50)
    description: str = Field(default="", max_length=200)
    format: Literal["courriel", "mailjet"] = Field(
        default="courriel",
        description="The body's fields: Courriel's, or Mailjet's event API (sent, open, click, "
        "bounce, blocked, spam, unsub) for an existing Mailjet consumer",
    )


class WebhookPatch(Input):
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=200)
    active: bool | None = None


class WebhookOut(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    status: str
    failing_since: dt.datetime | None
    disabled_reason: str
    created_at: dt.datetime
    format: str = "courriel"


class CreatedWebhookOut(WebhookOut):
    secret: str = Field(description="HMAC-SHA256 signing secret, shown only this once")


class WebhookDeliveryOut(BaseModel):
    id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_status_code: int | None
    last_error: str
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class ReplayIn(Input):
    since: dt.datetime | None = None


class ReplayOut(BaseModel):
    queued: int
