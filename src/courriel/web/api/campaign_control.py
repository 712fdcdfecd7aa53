"""HTTP routes of the campaign lifecycle: edit, plan, schedule, pause, resume, cancel."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from courriel.campaigns.abtest import VariantSpec
from courriel.campaigns.models import Campaign
from courriel.campaigns.plan import CampaignPlan
from courriel.campaigns.schemas import (
    AbTestIn,
    AbTestOut,
    AbVariantOut,
    CampaignEditIn,
    CampaignOut,
    PlanIn,
    PlanOut,
    ProgressOut,
    ScheduleIn,
)
from courriel.web.deps import PrincipalDep, Services, ServicesDep

router = APIRouter(tags=["campaigns"])


def _out(campaign: Campaign) -> CampaignOut:
    return CampaignOut.model_validate(campaign, from_attributes=True)


def _plan(plan: CampaignPlan) -> PlanOut:
    return PlanOut.model_validate(plan, from_attributes=True)


@router.patch("/campaigns/{campaign_id}")
def edit_campaign(
    campaign_id: str, body: CampaignEditIn, services: ServicesDep, principal: PrincipalDep
) -> CampaignOut:
    """Edit a draft or scheduled campaign (409 once sending: it sends its snapshot)."""
    return _out(
        services.campaign_control.update(
            principal,
            campaign_id,
            name=body.name,
            from_email=body.from_email,
            from_name=body.from_name,
            tracking=body.tracking,
        )
    )


@router.get("/campaigns/{campaign_id}/plan")
def get_plan(campaign_id: str, services: ServicesDep, principal: PrincipalDep) -> PlanOut:
    """Segment, schedule and rate cap of a campaign."""
    return _plan(services.campaign_control.plan(principal, campaign_id))


@router.put("/campaigns/{campaign_id}/plan")
def set_plan(
    campaign_id: str, body: PlanIn, services: ServicesDep, principal: PrincipalDep
) -> PlanOut:
    """Set the segment, the hourly rate cap and whether the lists' sunset contacts are
    included (`include_sunset`, for a re-engagement campaign) of a campaign not yet sending."""
    return _plan(
        services.campaign_control.configure(
            principal,
            campaign_id,
            segment_id=body.segment_id,
            rate_per_hour=body.rate_per_hour,
            include_sunset=body.include_sunset,
        )
    )


@router.post("/campaigns/{campaign_id}/schedule")
def schedule_campaign(
    campaign_id: str, body: ScheduleIn, services: ServicesDep, principal: PrincipalDep
) -> CampaignOut:
    """Send at `at`, or at `local_time` in each contact's timezone."""
    return _out(
        services.campaign_control.schedule(
            principal,
            campaign_id,
            at=body.at,
            local_time=body.local_time,
            default_timezone=body.default_timezone,
        )
    )


@router.post("/campaigns/{campaign_id}/unschedule")
def unschedule_campaign(
    campaign_id: str, services: ServicesDep, principal: PrincipalDep
) -> CampaignOut:
    """A scheduled campaign goes back to draft."""
    return _out(services.campaign_control.unschedule(principal, campaign_id))


@router.post("/campaigns/{campaign_id}/pause")
def pause_campaign(campaign_id: str, services: ServicesDep, principal: PrincipalDep) -> CampaignOut:
    """Stop sending; waiting messages leave the spool."""
    return _out(services.campaign_control.pause(principal, campaign_id))


@router.post("/campaigns/{campaign_id}/resume")
def resume_campaign(
    campaign_id: str, services: ServicesDep, principal: PrincipalDep
) -> CampaignOut:
    """Carry on sending a paused campaign."""
    return _out(services.campaign_control.resume(principal, campaign_id))


@router.post("/campaigns/{campaign_id}/cancel")
def cancel_campaign(
    campaign_id: str, services: ServicesDep, principal: PrincipalDep
) -> CampaignOut:
    """Stop for good; waiting messages are skipped as cancelled."""
    return _out(services.campaign_control.cancel(principal, campaign_id))


@router.get("/campaigns/{campaign_id}/progress")
def campaign_progress(
    campaign_id: str, services: ServicesDep, principal: PrincipalDep
) -> ProgressOut:
    """Live progress: pending, queued, sent, delivered, failed, …"""
    return ProgressOut(**asdict(services.campaign_control.progress(principal, campaign_id)))


def _ab(services: Services, principal: PrincipalDep, test_id: str) -> AbTestOut:
    test, variants = services.ab_tests.get(principal, test_id)
    out = AbTestOut.model_validate(test, from_attributes=True)
    out.variants = [AbVariantOut(label=v.label, campaign_id=v.campaign_id) for v in variants]
    return out


@router.post("/campaigns/{campaign_id}/ab-test", status_code=201)
def create_ab_test(
    campaign_id: str, body: AbTestIn, services: ServicesDep, principal: PrincipalDep
) -> AbTestOut:
    """Set up an A/B/n test on a draft campaign (each variant becomes a campaign)."""
    test = services.ab_tests.create(
        principal,
        campaign_id,
        [VariantSpec(v.template_id, v.from_email, v.from_name) for v in body.variants],
        test_share=body.test_share,
        metric=body.metric,
        wait_minutes=body.wait_minutes,
    )
    return _ab(services, principal, test.id)


@router.post("/ab-tests/{test_id}/start")
def start_ab_test(test_id: str, services: ServicesDep, principal: PrincipalDep) -> AbTestOut:
    """Send the variants; the winner goes to the rest of the audience after the wait."""
    services.ab_tests.start(principal, test_id)
    return _ab(services, principal, test_id)


@router.get("/ab-tests/{test_id}")
def get_ab_test(test_id: str, services: ServicesDep, principal: PrincipalDep) -> AbTestOut:
    """A test, its variants and (once decided) the winner with every variant's figures."""
    return _ab(services, principal, test_id)
