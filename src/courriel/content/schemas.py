"""API shapes of templates, previews, test sends and DKIM records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from courriel.core.schemas import Input, Int64, PositiveInt32


class TemplateContentIn(Input):
    subject: str = Field(min_length=1, max_length=998)
    html: str | None = Field(default=None, max_length=2_000_000)
    mjml: str | None = Field(default=None, max_length=2_000_000)
    text: str | None = Field(default=None, max_length=2_000_000)
    preheader: str = Field(default="", max_length=500)
    sender_name: str = Field(default="", max_length=200)
    reply_to: str = Field(default="", max_length=320)
    headers: dict[str, str] = Field(default_factory=dict)
    defaults: dict[str, str | Int64 | float | bool] = Field(default_factory=dict)


class TemplateIn(TemplateContentIn):
    name: str = Field(min_length=1, max_length=200)


class TemplateOut(BaseModel):
    id: str
    name: str
    version: int
    subject: str
    html: str
    text: str | None
    source_format: str
    mjml: str | None
    preheader: str
    sender_name: str
    reply_to: str
    headers: dict[str, str]
    defaults: dict[str, Any]
    created_at: dt.datetime


class TemplateSummary(BaseModel):
    id: str
    name: str
    current_version: int
    created_at: dt.datetime


class PreviewIn(Input):
    version: PositiveInt32 | None = None
    contact_id: str | None = Field(default=None, max_length=40)
    sample: dict[str, Any] | None = None


class PreviewOut(BaseModel):
    subject: str
    preheader: str
    html: str
    text: str
    undefined: list[str]
    missing_defaults: list[str]


class TestSendIn(Input):
    to: str = Field(max_length=320)
    from_email: str = Field(max_length=320)
    from_name: str = Field(default="", max_length=200)
    version: PositiveInt32 | None = None
    contact_id: str | None = Field(default=None, max_length=40)
    sample: dict[str, Any] | None = None


class TestSendOut(BaseModel):
    message_id: str


class DkimRecordOut(BaseModel):
    selector: str
    algorithm: str
    status: str
    name: str
    type: str = "TXT"
    value: str
    created_at: dt.datetime
