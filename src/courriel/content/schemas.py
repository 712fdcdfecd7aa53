"""API shapes of templates."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from courriel.api.schemas import Input


class TemplateIn(Input):
    name: str = Field(min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=998)
    html: str = Field(min_length=1, max_length=2_000_000)
    text: str | None = Field(default=None, max_length=2_000_000)


class TemplateOut(BaseModel):
    id: str
    name: str
    version: int
    subject: str
    html: str
    text: str | None
    created_at: dt.datetime


class TemplateSummary(BaseModel):
    id: str
    name: str
    current_version: int
    created_at: dt.datetime
