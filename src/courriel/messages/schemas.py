"""API shapes of Courriel's own message endpoints (``/v1/messages``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from courriel.core.schemas import Input


class AddressIn(Input):
    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=200)


class AttachmentIn(Input):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=3, max_length=255, examples=["application/pdf"])
    content: str = Field(description="The file, base64-encoded", max_length=30_000_000)
    content_id: str | None = Field(
        default=None, max_length=200, description="Makes it inline: cid:<content_id> in the HTML"
    )


class MessageIn(Input):
    from_email: str = Field(max_length=320)
    from_name: str = Field(default="", max_length=200)
    to: list[AddressIn] = Field(min_length=1, max_length=50)
    cc: list[AddressIn] = Field(default=[], max_length=50)
    bcc: list[AddressIn] = Field(default=[], max_length=50)
    reply_to: str | None = Field(default=None, max_length=320)
    subject: str | None = Field(default=None, max_length=998)
    text: str | None = Field(default=None, max_length=2_000_000)
    html: str | None = Field(default=None, max_length=2_000_000)
    template_id: str | None = Field(default=None, max_length=40)
    template_version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    variables: dict[str, Any] = Field(default={}, description="var.name (or name) in the template")
    headers: dict[str, str] = Field(default={})
    attachments: list[AttachmentIn] = Field(default=[], max_length=50)
    custom_id: str = Field(default="", max_length=255)
    event_payload: str = Field(default="", max_length=10_000)
    campaign: str = Field(default="", max_length=255, description="Groups messages (stats, dedupe)")
    deduplicate: bool = Field(default=False, description="Once per recipient in `campaign`")
    track_opens: bool = False
    track_clicks: bool = False
    priority: int = Field(default=2, ge=0, le=3)
    sandbox: bool = Field(default=False, description="Check everything, send nothing")
    check_links: bool = Field(
        default=False,
        description=(
            "Fetch every link of the HTML first: a dead, blocklisted or phishing-style link "
            "refuses the message (422), one line per link"
        ),
    )


class RecipientOut(BaseModel):
    email: str
    kind: str
    id: str
    uuid: str
    number: int
    status: str
    reason: str


class SubmittedOut(BaseModel):
    custom_id: str
    recipients: list[RecipientOut]


class MessageEventOut(BaseModel):
    type: str
    occurred_at: dt.datetime
    detail: dict[str, Any]


class MessageOut(BaseModel):
    id: str
    uuid: str
    number: int
    status: str
    reason: str
    from_email: str
    recipient: str
    kind: str
    subject: str
    custom_id: str
    event_payload: str
    campaign: str
    template_id: str | None
    created_at: dt.datetime
    history: list[MessageEventOut]
