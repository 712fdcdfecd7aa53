"""Tables of A/B/n tests: the test on a campaign, and its variants (each a campaign)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import TenantBase, UTCDateTime, str_enum


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
