"""Reads the campaign pages need: the A/B test a campaign belongs to, the sender
domain's readiness without side effects, segment names without live counts."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from courriel.audience.models import Segment
from courriel.campaigns.abtest import VariantSpec
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError
from courriel.core.ids import new_id
from courriel.policy.models import SenderDomain
from courriel.services import Services
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import TenantAccess


def test_a_campaign_finds_its_ab_test_as_main_or_variant(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    list_id = seed_list(services, tenant_a, ["a@x.test"])
    main = make_campaign(services, tenant_a, [list_id])
    plain = make_campaign(services, tenant_a, [list_id])
    test = services.ab_tests.create(
        tenant_a.operator, main, [VariantSpec(from_name="A"), VariantSpec(from_name="B")]
    )
    found = services.ab_tests.of_campaign(tenant_a.operator, main)
    assert found is not None
    assert found[0].id == test.id
    variant = found[1][1].campaign_id
    again = services.ab_tests.of_campaign(tenant_a.operator, variant)
    assert again is not None
    assert again[0].id == test.id
    assert services.ab_tests.of_campaign(tenant_a.operator, plain) is None
    # Another tenant's campaign is out of reach.
    with pytest.raises(NotFoundError):
        services.ab_tests.of_campaign(tenant_b.operator, main)


def test_the_sender_problem_is_read_without_recording_the_domain(
    services: Services, tenant_a: TenantAccess
) -> None:
    domains = services.sender_domains
    assert "webmail" in (domains.sender_problem(tenant_a.operator, "me@gmail.com") or "")
    # A sandbox domain may be used, and asking does not claim it.
    assert domains.sender_problem(tenant_a.operator, "news@acme.test") is None
    with services.storage.control() as session:
        assert session.scalars(select(SenderDomain)).all() == []
    services.settings.resolver = "dns"
    try:
        problem = domains.sender_problem(tenant_a.operator, "news@shop.example")
    finally:
        services.settings.resolver = "sandbox"
    assert problem is not None
    assert "not a sender domain" in problem


def test_segment_names_come_without_counting(services: Services, tenant_a: TenantAccess) -> None:
    with transaction(services.storage.tenant(tenant_a.tenant.id)) as session:
        session.add(
            Segment(
                id=new_id("seg"), name="Zed", expression="true", created_at=dt.datetime.now(dt.UTC)
            )
        )
    names = services.audience.segments.names(tenant_a.operator)
    assert [s.name for s in names] == ["Zed"]
