"""HTTP routes of campaigns."""

from __future__ import annotations

from fastapi import APIRouter

from courriel.campaigns.schemas import CampaignIn, CampaignOut, CampaignStatsOut
from courriel.core.schemas import PageOut
from courriel.web.deps import DEFAULT_PAGE, CursorQuery, LimitQuery, PrincipalDep, ServicesDep

router = APIRouter(tags=["campaigns"])


@router.post("/campaigns", status_code=201)
def create_campaign(
    body: CampaignIn, services: ServicesDep, principal: PrincipalDep
) -> CampaignOut:
    """Create a draft campaign."""
    campaign = services.campaigns.create(
        principal,
        name=body.name,
        template_id=body.template_id,
        list_ids=body.lists,
        from_email=body.from_email,
        from_name=body.from_name,
        mail_class=body.mail_class,
        tracking=body.tracking,
    )
    return CampaignOut.model_validate(campaign, from_attributes=True)


@router.get("/campaigns")
def list_campaigns(
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
) -> PageOut[CampaignOut]:
    """The tenant's campaigns."""
    page = services.campaigns.list(principal, cursor, limit)
    return PageOut[CampaignOut].of(page)


@router.get("/campaigns/{campaign_id}")
def get_campaign(campaign_id: str, services: ServicesDep, principal: PrincipalDep) -> CampaignOut:
    """One campaign."""
    return CampaignOut.model_validate(
        services.campaigns.get(principal, campaign_id), from_attributes=True
    )


@router.post("/campaigns/{campaign_id}/send", status_code=202)
def send_campaign(campaign_id: str, services: ServicesDep, principal: PrincipalDep) -> CampaignOut:
    """Start sending: the first batch is spooled at once, the scheduler does the rest."""
    return CampaignOut.model_validate(
        services.campaign_control.send(principal, campaign_id), from_attributes=True
    )


@router.get("/campaigns/{campaign_id}/stats")
def campaign_stats(
    campaign_id: str, services: ServicesDep, principal: PrincipalDep
) -> CampaignStatsOut:
    """Counts of what happened to the campaign's messages so far."""
    stats = services.stats.campaign(principal, campaign_id)
    c = stats.counts
    return CampaignStatsOut(
        campaign_id=stats.campaign_id,
        status=stats.status,
        recipients=stats.recipients,
        queued=c["queued"],
        skipped=c["skipped"],
        failed=c["failed"],
        delivered=c["delivered"],
        deferred=c["deferred"],
        bounced=c["bounced"],
        blocked=c["blocked"],
        expired=c["expired"],
        delivery_rate=stats.delivery_rate,
        counts=c,
        figures=stats.figures,
        rates=stats.rates,
    )
