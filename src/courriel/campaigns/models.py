"""Tables of campaigns: the campaign, its recipients and its A/B tests (tenant
database), and the fan-out jobs that tell a scheduler which tenant has work
(control database)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import ControlBase, TenantBase, UTCDateTime, str_enum


class CampaignStatus(enum.StrEnum):
    """Lifecycle of a campaign; changed only through `lifecycle.TRANSITIONS`."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class MailClass(enum.StrEnum):
    """Marketing needs consent and an unsubscribe link; transactional does not."""

    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


class RecipientState(enum.StrEnum):
    """Where one recipient of a campaign stands in the fan-out."""

    PENDING = "pending"
    QUEUED = "queued"
    SKIPPED = "skipped"
    FAILED = "failed"


class Campaign(TenantBase):
    """A message sent to the subscribers of some lists."""

    __tablename__ = "campaigns"
    # Listed newest first (ids are random): `CampaignService.list`.
    __table_args__ = (Index("ix_campaigns_created_at_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[CampaignStatus] = mapped_column(str_enum(CampaignStatus))
    mail_class: Mapped[MailClass] = mapped_column(str_enum(MailClass))
    template_version_id: Mapped[str] = mapped_column(ForeignKey("template_versions.id"))
    from_email: Mapped[str] = mapped_column(String(320))
    from_name: Mapped[str] = mapped_column(String(200), default="")
    # Opens and clicks are tracked unless switched off for this campaign.
    tracking: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class CampaignList(TenantBase):
    """A list a campaign goes to."""

    __tablename__ = "campaign_lists"

    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    list_id: Mapped[str] = mapped_column(ForeignKey("lists.id"), primary_key=True)


class CampaignRecipient(TenantBase):
    """One message of a campaign: the unique key makes fan-out exactly-once per contact."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index("ix_campaign_recipients_campaign_state", "campaign_id", "state"),
    )

    # The message id, also the tenant-side handle of the spooled message.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[str | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), default=None
    )
    state: Mapped[RecipientState] = mapped_column(str_enum(RecipientState))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class FanoutJob(ControlBase):
    """Tells schedulers that a tenant's campaign has recipients to move to the spool."""

    __tablename__ = "fanout_jobs"
    __table_args__ = (UniqueConstraint("tenant_id", "campaign_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    campaign_id: Mapped[str] = mapped_column(String(40))
    run_after: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(80), default=None)


class AbMetric(enum.StrEnum):
    """What makes a variant win: unique human opens, or unique (human) clicks."""

    OPENS = "opens"
    CLICKS = "clicks"


class AbStatus(enum.StrEnum):
    """Where a test stands."""

    DRAFT = "draft"
    TESTING = "testing"
    DECIDED = "decided"


class AbTest(TenantBase):
    """A test whose winner is sent to the rest of the campaign's audience."""

    __tablename__ = "ab_tests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The campaign the winner is sent through, to everyone not in the test.
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), unique=True
    )
    metric: Mapped[AbMetric] = mapped_column(str_enum(AbMetric))
    # Percent of the audience that receives a variant (shared equally).
    test_share: Mapped[int] = mapped_column(Integer)
    wait_minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[AbStatus] = mapped_column(str_enum(AbStatus))
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    winner_campaign_id: Mapped[str | None] = mapped_column(String(40), default=None)
    # The figures each variant had when the winner was chosen.
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class AbVariant(TenantBase):
    """One variant of a test: a campaign of its own (subject, content or sender)."""

    __tablename__ = "ab_variants"

    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    ab_test_id: Mapped[str] = mapped_column(
        ForeignKey("ab_tests.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(2))
    position: Mapped[int] = mapped_column(Integer)
