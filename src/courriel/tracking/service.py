"""Statistics use cases: counters read back as figures and rates, per campaign,
link, provider and day, and per tenant over time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from courriel.campaigns.access import require_campaign
from courriel.campaigns.models import Campaign, CampaignRecipient, RecipientState
from courriel.content.models import TemplateLink
from courriel.core.db import get_or_not_found
from courriel.core.errors import ForbiddenError, InvalidInputError
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage
from courriel.events.metrics import FIGURES, TENANT_WIDE, rates
from courriel.events.models import CampaignCounter, EventType, StatCounter

MAX_DAYS = 366


@dataclass(frozen=True)
class Figures:
    """Counts and the rates computed from them, for one slice (a provider, a day…)."""

    key: str
    figures: dict[str, int]
    rates: dict[str, float] = field(default_factory=dict)
    # Per link: the link's position in the template (the key is its URL).
    position: int | None = None


@dataclass(frozen=True)
class CampaignStats:
    """What happened to a campaign's messages so far."""

    campaign_id: str
    status: str
    recipients: int
    counts: dict[str, int]
    figures: dict[str, int] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)

    @property
    def delivery_rate(self) -> float:
        """Delivered over queued (0 when nothing was queued)."""
        queued = self.counts.get(EventType.QUEUED.value, 0)
        return round(self.counts.get(EventType.DELIVERED.value, 0) / queued, 4) if queued else 0.0


def _figures(rows: dict[str, int]) -> dict[str, int]:
    return {name: rows.get(name, 0) for name in FIGURES}


class StatsService:
    """Reads the counters kept by `tracking.recorder` (a few rows, whatever the size)."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def campaign(self, principal: Principal, campaign_id: str) -> CampaignStats:
        """Statistics of one campaign of the principal's tenant."""
        principal.require(Capability.STATS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            campaign = _campaign(session, principal, campaign_id)
            rows = session.execute(
                select(CampaignCounter.type, CampaignCounter.count).where(
                    CampaignCounter.campaign_id == campaign_id
                )
            )
            counts = {t.value: 0 for t in EventType}
            counts.update({t.value: int(c) for t, c in rows})
            # Every recipient ends as exactly one queued, skipped or failed event
            # (dedupe keys per message); only the batch in progress is still
            # pending. Counting those rows instead would scan a million-row index.
            pending = session.scalar(
                select(func.count())
                .select_from(CampaignRecipient)
                .where(
                    CampaignRecipient.campaign_id == campaign_id,
                    CampaignRecipient.state == RecipientState.PENDING,
                )
            )
            recipients = counts["queued"] + counts["skipped"] + counts["failed"] + int(pending or 0)
            figures = _figures(self._slice(session, campaign_id, "all").get("", {}))
        return CampaignStats(
            campaign_id=campaign_id,
            status=campaign.status.value,
            recipients=int(recipients or 0),
            counts=counts,
            figures=figures,
            rates=rates(figures),
        )

    def campaign_breakdown(
        self, principal: Principal, campaign_id: str, dimension: str
    ) -> list[Figures]:
        """A campaign's figures per link, provider or day, ordered by key."""
        principal.require(Capability.STATS_READ)
        if dimension not in ("link", "provider", "day"):
            raise InvalidInputError("dimension", "must be link, provider or day")
        with self._storage.tenant(principal.tenant_id)() as session:
            campaign = _campaign(session, principal, campaign_id)
            slices = self._slice(session, campaign_id, dimension)
            urls = _link_urls(session, campaign.template_version_id) if dimension == "link" else {}
        keys = sorted(slices, key=lambda k: (len(k), k) if dimension == "link" else (0, k))
        if dimension == "link":
            # Counted by position (what a click token names), shown by URL.
            return [
                Figures(urls.get(k, k), slices[k], position=int(k) if k.isdigit() else None)
                for k in keys
            ]
        return [Figures(k, _figures(slices[k]), rates(_figures(slices[k]))) for k in keys]

    def tenant_days(self, principal: Principal, start: dt.date, end: dt.date) -> list[Figures]:
        """The tenant's figures per day (UTC) from `start` to `end` included."""
        principal.require(Capability.STATS_READ)
        if principal.lists is not None:
            # Every campaign together: figures about lists the principal does not reach.
            raise ForbiddenError("tenant-wide figures need access to every list")
        if end < start:
            raise InvalidInputError("end", "must not be before start")
        if (end - start).days >= MAX_DAYS:
            raise InvalidInputError("end", f"a range covers at most {MAX_DAYS} days")
        with self._storage.tenant(principal.tenant_id)() as session:
            rows = session.execute(
                select(StatCounter.key, StatCounter.metric, StatCounter.count).where(
                    StatCounter.campaign_id == TENANT_WIDE,
                    StatCounter.dimension == "day",
                    StatCounter.key >= start.isoformat(),
                    StatCounter.key <= end.isoformat(),
                )
            )
            slices: dict[str, dict[str, int]] = {}
            for key, metric, count in rows:
                slices.setdefault(key, {})[metric] = int(count)
        days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
        out = []
        for day in days:
            figures = _figures(slices.get(day.isoformat(), {}))
            out.append(Figures(day.isoformat(), figures, rates(figures)))
        return out

    @staticmethod
    def _slice(session: Session, campaign_id: str, dimension: str) -> dict[str, dict[str, int]]:
        rows = session.execute(
            select(StatCounter.key, StatCounter.metric, StatCounter.count).where(
                StatCounter.campaign_id == campaign_id, StatCounter.dimension == dimension
            )
        )
        slices: dict[str, dict[str, int]] = {}
        for key, metric, count in rows:
            slices.setdefault(key, {})[metric] = int(count)
        return slices


def _link_urls(session: Session, version_id: str) -> dict[str, str]:
    rows = session.execute(
        select(TemplateLink.position, TemplateLink.url).where(
            TemplateLink.template_version_id == version_id
        )
    )
    return {str(position): url for position, url in rows}


def _campaign(session: Session, principal: Principal, campaign_id: str) -> Campaign:
    found = get_or_not_found(session, Campaign, campaign_id, "campaign")
    require_campaign(session, principal, campaign_id)
    return found
