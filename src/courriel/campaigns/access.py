"""Which campaigns a principal limited to some lists may reach.

A campaign belongs to the lists it goes to; a principal reaches it only when
every one of them is among its own lists (its statistics are about those
lists' people). Any other campaign is "not found", as another tenant's is.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from courriel.campaigns.models import CampaignList
from courriel.core.errors import NotFoundError
from courriel.core.principal import Principal

S = TypeVar("S", bound=Select[Any])


def _outside(principal: Principal) -> Select[Any]:
    assert principal.lists is not None
    return select(CampaignList.campaign_id).where(
        CampaignList.list_id.not_in(sorted(principal.lists))
    )


def reachable_campaigns(statement: S, principal: Principal, campaign_id_column: Any) -> S:
    """`statement` narrowed to the campaigns the principal reaches."""
    if principal.lists is None:
        return statement
    return statement.where(campaign_id_column.not_in(_outside(principal)))


def require_campaign(session: Session, principal: Principal, campaign_id: str) -> None:
    """NotFoundError unless the principal reaches campaign `campaign_id`."""
    if principal.lists is None:
        return
    outside = session.scalar(
        _outside(principal).where(CampaignList.campaign_id == campaign_id).limit(1)
    )
    if outside is not None:
        raise NotFoundError(f"no campaign {campaign_id!r}")
