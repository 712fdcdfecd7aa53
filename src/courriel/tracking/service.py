"""Statistics use cases: campaign counters read back as figures and rates."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from courriel.accounts.principal import Capability, Principal
from courriel.campaigns.models import Campaign, CampaignRecipient
from courriel.core.errors import NotFoundError
from courriel.core.storage import Storage
from courriel.tracking.models import CampaignCounter, EventType


@dataclass(frozen=True)
class CampaignStats:
    """What happened to a campaign's messages so far."""

    campaign_id: str
    status: str
    recipients: int
    counts: dict[str, int]

    @property
    def delivery_rate(self) -> float:
        """Delivered over queued (0 when nothing was queued)."""
        queued = self.counts.get(EventType.QUEUED.value, 0)
        return round(self.counts.get(EventType.DELIVERED.value, 0) / queued, 4) if queued else 0.0


class StatsService:
    """Reads the counters kept by `tracking.recorder`."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def campaign(self, principal: Principal, campaign_id: str) -> CampaignStats:
        """Statistics of one campaign of the principal's tenant (a few rows, any size)."""
        principal.require(Capability.STATS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                raise NotFoundError(f"no campaign {campaign_id!r}")
            rows = session.execute(
                select(CampaignCounter.type, CampaignCounter.count).where(
                    CampaignCounter.campaign_id == campaign_id
                )
            )
            counts = {t.value: 0 for t in EventType}
            counts.update({t.value: int(c) for t, c in rows})
            recipients = session.scalar(
                select(func.count())
                .select_from(CampaignRecipient)
                .where(CampaignRecipient.campaign_id == campaign_id)
            )
        return CampaignStats(
            campaign_id=campaign_id,
            status=campaign.status.value,
            recipients=int(recipients or 0),
            counts=counts,
        )
