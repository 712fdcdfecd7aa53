"""Tables of webhooks: endpoints and the outbox (tenant database), and the
control-database row that tells a deliverer which tenants have endpoints."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import ControlBase, TenantBase, UTCDateTime, str_enum


class EndpointStatus(enum.StrEnum):
    """An endpoint receives events while active; one failing for 24 hours is disabled."""

    ACTIVE = "active"
    DISABLED = "disabled"


class DeliveryStatus(enum.StrEnum):
    """Where one event's delivery to one endpoint stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEndpoint(TenantBase):
    """A URL of the tenant's that receives the event types it subscribes to."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(200), default="")
    # Event type values, or ["*"] for every type.
    event_types: Mapped[list[str]] = mapped_column(JSON)
    # The HMAC-SHA256 key of the signatures; shown to the tenant when created.
    secret: Mapped[str] = mapped_column(String(80))
    status: Mapped[EndpointStatus] = mapped_column(str_enum(EndpointStatus))
    # Since when every attempt failed (None after any success).
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    disabled_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # "courriel" (our JSON) or "mailjet" (Mailjet's event fields, for an
    # existing Mailjet consumer).
    format: Mapped[str] = mapped_column(String(20), default="courriel", server_default="courriel")
    # Set up by a principal that sees personal data masked: its bodies go out masked.
    masked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class WebhookDelivery(TenantBase):
    """One event for one endpoint, waiting in the outbox or done."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    # The stable id of the event (receivers deduplicate on it, replays repeat it).
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(20))
    # The exact body sent, so every retry signs and sends the same bytes.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class WebhookTenant(ControlBase):
    """A tenant with webhook endpoints: the deliverer looks only at these."""

    __tablename__ = "webhook_tenants"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
