"""API shapes of the sending policy, sender domains and the content checklist."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from courriel.core.schemas import Input


class BlocklistListingOut(BaseModel):
    """A sending IP or sender domain currently on a DNS blocklist: a warning."""

    kind: str = Field(description="`ip` (a shared sending IP) or `domain` (a sender domain).")
    subject: str
    zone: str = Field(description="The blocklist zone that lists it.")
    code: str = Field(description="The A answer, 127.0.0.x (RFC 5782 §2.1).")
    reason: str = Field(description="The list's TXT answer, often a removal URL; may be empty.")
    listed_at: dt.datetime
    checked_at: dt.datetime


class PolicyOut(BaseModel):
    state: str
    since: dt.datetime | None
    hourly_cap: int | None
    limited_until: dt.datetime | None
    notify_email: str
    # Why the tenant is in its state (figures, rules, campaigns, lists, imports).
    explanation: dict[str, Any]
    # The same, measured now.
    current: dict[str, Any]
    # Current blocklist listings of the sending IPs and this tenant's domains.
    blocklists: list[BlocklistListingOut] = []


class PolicyChangeOut(BaseModel):
    id: str
    from_state: str
    to_state: str
    actor: str
    reason: str
    explanation: dict[str, Any]
    occurred_at: dt.datetime


class NotifyIn(Input):
    email: str = Field(max_length=320)


class DomainIn(Input):
    domain: str = Field(min_length=1, max_length=253)


class RecordOut(BaseModel):
    purpose: str
    type: str
    name: str
    value: str


class DomainOut(BaseModel):
    id: str
    domain: str
    status: str
    reason: str
    checks: dict[str, Any]
    verified_at: dt.datetime | None
    checked_at: dt.datetime | None
    # Why it may not be used in From yet (null: it may).
    sending_problem: str | None = None
    records: list[RecordOut] = []


class ChecklistOut(BaseModel):
    sendable: bool
    items: list[dict[str, Any]]


class LinkCheckIn(Input):
    campaigns: bool | None = Field(
        default=None, description="Fetch every link of a campaign before it may be sent"
    )
    messages: bool | None = Field(
        default=None, description="Fetch every link of each Send API message before accepting it"
    )


class LinkCheckOut(BaseModel):
    campaigns: bool
    messages: bool
    # Checked whatever the tenant chose: the installation's settings.
    required_campaigns: bool
    required_messages: bool


class BulkSenderRuleOut(BaseModel):
    """One bulk-sender rule (Gmail/Yahoo 2024, Microsoft 2025) for one sender domain."""

    name: str = Field(
        description=(
            "spf, dkim, alignment, dmarc, one-click-unsubscribe, unsubscribes-honoured, "
            "complaint-rate or reverse-dns."
        )
    )
    status: str = Field(description="pass, fail or unknown (a lookup failed, nothing measured).")
    reason: str
    fix: str = Field(description="What to do when it does not pass; empty when it passes.")
