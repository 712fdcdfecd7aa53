"""Campaigns are listed newest first, page after page (ids are random)."""

from __future__ import annotations

import datetime as dt

import pytest

from courriel.campaigns.models import Campaign
from courriel.core.errors import InvalidInputError
from courriel.services import Services
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import TenantAccess


def test_campaigns_come_newest_first_across_pages(
    services: Services, tenant_a: TenantAccess
) -> None:
    list_id = seed_list(services, tenant_a, ["ann@gmail.test"])
    made = [make_campaign(services, tenant_a, [list_id]) for _ in range(5)]
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        for n, campaign_id in enumerate(made):
            row = session.get(Campaign, campaign_id)
            assert row is not None
            # Two share a time: the id breaks the tie, in the cursor too.
            row.created_at = start + dt.timedelta(days=min(n, 3))
        session.commit()
    seen: list[str] = []
    cursor = None
    while True:
        page = services.campaigns.list(tenant_a.operator, cursor, 2)
        seen += [c.id for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    expected = [made[4], made[3]] if made[4] > made[3] else [made[3], made[4]]
    assert seen == [*expected, made[2], made[1], made[0]]
    with pytest.raises(InvalidInputError, match="cursor"):
        services.campaigns.list(tenant_a.operator, "not-a-cursor", 2)
