"""HTTP routes of the sunset policy: a list's months, its count, the re-engagement segment."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from courriel.audience.sunset import MAX_MONTHS
from courriel.core.schemas import Input
from courriel.web.deps import PrincipalDep, ServicesDep

router = APIRouter(tags=["audience"])


class SunsetIn(Input):
    sunset_months: int | None = Field(
        ge=1,
        le=MAX_MONTHS,
        description=(
            "Leave out of marketing the subscribers without an open or click in this many "
            "months (1 to 120; a month is 30 days); null turns the policy off for the list."
        ),
    )


class SunsetOut(BaseModel):
    list_id: str
    sunset_months: int | None
    # Subscribers the policy leaves out of marketing now, of all subscribed.
    sunset: int
    subscribed: int
    # The segment expression that holds them (target of a re-engagement campaign).
    segment_expression: str


class ReengagementOut(BaseModel):
    segment_id: str
    name: str
    expression: str
    count: int
    hint: str


def _summary(services: ServicesDep, principal: PrincipalDep, list_id: str) -> SunsetOut:
    found = services.sunset.summary(principal, list_id)
    return SunsetOut(
        list_id=found.list_id,
        sunset_months=found.months,
        sunset=found.sunset,
        subscribed=found.subscribed,
        segment_expression=found.segment_expression,
    )


@router.get("/lists/{list_id}/sunset")
def get_sunset(list_id: str, services: ServicesDep, principal: PrincipalDep) -> SunsetOut:
    """A list's sunset policy and how many subscribers it leaves out of marketing now."""
    return _summary(services, principal, list_id)


@router.put("/lists/{list_id}/sunset")
def set_sunset(
    list_id: str, body: SunsetIn, services: ServicesDep, principal: PrincipalDep
) -> SunsetOut:
    """Set a list's sunset months (null: off). New lists start at 12; older lists at off."""
    services.sunset.set_months(principal, list_id, body.sunset_months)
    return _summary(services, principal, list_id)


@router.post("/lists/{list_id}/sunset/re-engagement", status_code=201)
def reengagement(list_id: str, services: ServicesDep, principal: PrincipalDep) -> ReengagementOut:
    """Save the segment of the list's sunset contacts, for a re-engagement campaign.

    Send a campaign to it with the plan's `include_sunset: true` (PUT
    /v1/campaigns/{id}/plan), since the policy would otherwise leave them out.
    """
    created = services.sunset.reengagement_segment(principal, list_id)
    return ReengagementOut(
        segment_id=created.segment.id,
        name=created.segment.name,
        expression=created.segment.expression,
        count=created.count,
        hint="PUT /v1/campaigns/{id}/plan with this segment_id and include_sunset: true",
    )
