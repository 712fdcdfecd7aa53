"""Scheduling with a controllable clock: at an instant, at a local time in each contact's
timezone, a per-campaign hourly rate cap; and A/B/n tests whose winner goes to the rest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from courriel.campaigns.abtest import VariantSpec
from courriel.campaigns.models import AbMetric, AbStatus, CampaignRecipient, CampaignStatus
from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.core.db import transaction
from courriel.core.errors import ConflictError, InvalidInputError
from courriel.delivery.models import SpoolMessage, SpoolState
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.services import Services
from tests.support.databases import Templates, build_services
from tests.support.seeds.campaigns import make_campaign, recipients, seed_list, spooled
from tests.support.tenants import TenantAccess, make_tenant

START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen(
    settings: Settings, templates: Templates
) -> Iterator[tuple[Services, FrozenClock, TenantAccess]]:
    clock = FrozenClock(START)
    built = build_services(settings, templates, clock)
    yield built, clock, make_tenant(built, "Frozen")
    built.close()


def _status(services: Services, tenant: TenantAccess, campaign_id: str) -> CampaignStatus:
    return services.campaigns.get(tenant.operator, campaign_id).status


def test_local_time_delivery_follows_each_contacts_timezone(
    frozen: tuple[Services, FrozenClock, TenantAccess],
) -> None:
    services, clock, tenant = frozen
    zones = {
        "tokyo@x.test": "Asia/Tokyo",
        "paris@x.test": "Europe/Paris",
        "newyork@x.test": "America/New_York",
        "nowhere@x.test": "Mars/Olympus",  # unknown zone: the campaign's default
    }
    emails = [*zones, "unset@x.test"]
    campaign = make_campaign(
        services, tenant, [seed_list(services, tenant, emails, timezones=zones)]
    )
    services.campaign_control.schedule(
        tenant.operator, campaign, local_time="2026-03-02T09:00", default_timezone="Asia/Tokyo"
    )
    services.scheduler().drain()
    assert spooled(services, campaign) == []
    assert _status(services, tenant, campaign) is CampaignStatus.SCHEDULED

    clock.advance(hours=12)  # 2026-03-02 00:00 UTC is 09:00 in Tokyo
    services.scheduler().drain()
    assert sorted(spooled(services, campaign)) == ["nowhere@x.test", "tokyo@x.test", "unset@x.test"]
    assert _status(services, tenant, campaign) is CampaignStatus.SENDING

    clock.advance(hours=8)  # 08:00 UTC is 09:00 in Paris (CET)
    services.scheduler().drain()
    assert "paris@x.test" in spooled(services, campaign)
    assert "newyork@x.test" not in spooled(services, campaign)

    clock.advance(hours=6)  # 14:00 UTC is 09:00 in New York (EST)
    services.scheduler().drain()
    assert sorted(spooled(services, campaign)) == sorted(emails)
    assert _status(services, tenant, campaign) is CampaignStatus.SENT


def test_schedule_at_an_instant_and_unschedule(
    frozen: tuple[Services, FrozenClock, TenantAccess],
) -> None:
    services, clock, tenant = frozen
    campaign = make_campaign(services, tenant, [seed_list(services, tenant, ["a@x.test"])])
    control = services.campaign_control
    for kwargs, field in [
        ({"at": START - dt.timedelta(minutes=1)}, "at"),
        ({"at": dt.datetime(2026, 3, 2, 9, 0, tzinfo=None)}, "at"),  # noqa: DTZ001 (no UTC offset)
        ({}, "at"),
        ({"at": START + dt.timedelta(hours=1), "local_time": "2026-03-02T09:00"}, "at"),
        ({"local_time": "tomorrow"}, "local_time"),
        ({"local_time": "2026-02-01T09:00"}, "local_time"),  # passed everywhere
        (
            {"local_time": "2026-03-02T09:00", "default_timezone": "Nowhere/City"},
            "default_timezone",
        ),
    ]:
        with pytest.raises(InvalidInputError) as refused:
            control.schedule(tenant.operator, campaign, **kwargs)  # type: ignore[arg-type]
        assert refused.value.field == field
    assert _status(services, tenant, campaign) is CampaignStatus.DRAFT

    control.schedule(tenant.operator, campaign, at=START + dt.timedelta(hours=2))
    assert control.plan(tenant.operator, campaign).scheduled_at == START + dt.timedelta(hours=2)
    control.unschedule(tenant.operator, campaign)
    assert _status(services, tenant, campaign) is CampaignStatus.DRAFT
    clock.advance(hours=3)
    services.scheduler().drain()
    assert spooled(services, campaign) == []

    control.schedule(tenant.operator, campaign, at=START + dt.timedelta(hours=4))
    clock.advance(hours=1)
    services.scheduler().drain()
    assert spooled(services, campaign) == ["a@x.test"]
    with pytest.raises(ConflictError):
        control.unschedule(tenant.operator, campaign)


def test_the_rate_cap_spreads_a_campaign_over_hours(
    frozen: tuple[Services, FrozenClock, TenantAccess],
) -> None:
    services, clock, tenant = frozen
    emails = [f"p{i:03d}@x.test" for i in range(250)]
    campaign = make_campaign(services, tenant, [seed_list(services, tenant, emails)])
    services.campaign_control.configure(tenant.operator, campaign, rate_per_hour=100)

    services.campaign_control.send(tenant.operator, campaign)
    services.scheduler().drain()
    assert len(spooled(services, campaign)) == 100
    clock.advance(minutes=30)
    services.scheduler().drain()
    assert len(spooled(services, campaign)) == 100
    clock.advance(minutes=31)
    services.scheduler().drain()
    assert len(spooled(services, campaign)) == 200
    clock.advance(minutes=61)
    services.scheduler().drain()
    assert sorted(spooled(services, campaign)) == emails
    assert _status(services, tenant, campaign) is CampaignStatus.SENT


def test_the_fan_out_waits_while_the_spool_is_at_its_high_water_mark(
    settings: Settings, templates: Templates
) -> None:
    clock = FrozenClock(START)
    tuned = settings.model_copy(update={"spool_high_water": 100, "fanout_batch_size": 50})
    services = build_services(tuned, templates, clock)
    try:
        tenant = make_tenant(services, "Backlog")
        emails = [f"p{i:03d}@x.test" for i in range(250)]
        campaign = make_campaign(services, tenant, [seed_list(services, tenant, emails)])
        services.campaign_control.send(tenant.operator, campaign)
        services.scheduler().drain()
        # Two batches, then 100 messages wait for delivery: composing waits.
        assert len(spooled(services, campaign)) == 100
        assert services.spool.backlog(clock.now()) == 100
        clock.advance(seconds=5)
        services.scheduler().drain()
        assert len(spooled(services, campaign)) == 100
        # Deferred to later (greylisting, a throttled provider): not in the
        # way of the rest of the audience.
        with transaction(services.spool.sessions) as session:
            session.execute(
                update(SpoolMessage).values(next_attempt_at=clock.now() + dt.timedelta(hours=1))
            )
        assert services.spool.backlog(clock.now()) == 0
        clock.advance(seconds=1)
        services.scheduler().drain()
        assert len(spooled(services, campaign)) == 200
        # Delivered: the spool has room again, and the campaign finishes.
        with transaction(services.spool.sessions) as session:
            session.execute(update(SpoolMessage).values(state=SpoolState.FINISHED))
        clock.advance(seconds=1)
        services.scheduler().drain()
        assert sorted(spooled(services, campaign)) == emails
        assert _status(services, tenant, campaign) is CampaignStatus.SENT
    finally:
        services.close()


def _open_all(services: Services, tenant: TenantAccess, campaign_id: str, machine: bool) -> None:
    with transaction(services.storage.tenant(tenant.tenant.id)) as session:
        messages = session.scalars(
            select(CampaignRecipient.id).where(CampaignRecipient.campaign_id == campaign_id)
        ).all()
        record_events(
            session,
            [
                NewEvent(
                    type=EventType.OPENED,
                    occurred_at=services.clock.now(),
                    campaign_id=campaign_id,
                    message_id=m,
                    detail={"machine": machine},
                )
                for m in messages
            ],
        )


def test_ab_test_sends_the_winner_to_the_rest(
    frozen: tuple[Services, FrozenClock, TenantAccess],
) -> None:
    services, clock, tenant = frozen
    emails = [f"p{i:03d}@x.test" for i in range(400)]
    list_id = seed_list(services, tenant, emails)
    main = make_campaign(services, tenant, [list_id], subject="Original")
    subject_b, _ = services.templates.create(
        tenant.operator, "B", "Spring is here", '<p>Hi</p><a href="{{ unsubscribe_url }}">u</a>'
    )
    subject_c, _ = services.templates.create(
        tenant.operator, "C", "New season", '<p>Hi</p><a href="{{ unsubscribe_url }}">u</a>'
    )
    test = services.ab_tests.create(
        tenant.operator,
        main,
        [
            VariantSpec(from_name="Acme team"),
            VariantSpec(template_id=subject_b.id),
            VariantSpec(template_id=subject_c.id, from_name="Ada at Acme"),
        ],
        test_share=30,
        metric=AbMetric.OPENS,
        wait_minutes=60,
    )
    services.ab_tests.start(tenant.operator, test.id)
    services.scheduler().drain()
    _test, variants = services.ab_tests.get(tenant.operator, test.id)
    a, b, c = (v.campaign_id for v in variants)
    tested = [e for v in (a, b, c) for e in recipients(services, tenant, v)]
    assert 0.2 * 400 < len(tested) < 0.4 * 400
    assert recipients(services, tenant, main) == []
    # B gets human opens; A only a privacy proxy's machine opens, which do not count.
    _open_all(services, tenant, a, machine=True)
    _open_all(services, tenant, b, machine=False)

    clock.advance(minutes=61)
    services.scheduler().drain()

    decided, _ = services.ab_tests.get(tenant.operator, test.id)
    assert decided.status is AbStatus.DECIDED
    assert decided.winner_campaign_id == b
    assert decided.results["winner"] == "B"
    assert decided.results["variants"]["A"]["unique_human_opens"] == 0
    winner = services.campaigns.get(tenant.operator, b)
    sent = services.campaigns.get(tenant.operator, main)
    assert sent.template_version_id == winner.template_version_id
    assert sent.status is CampaignStatus.SENT
    everyone = tested + recipients(services, tenant, main)
    assert sorted(everyone) == emails  # each contact exactly one of the messages


def test_ab_test_input_errors(frozen: tuple[Services, FrozenClock, TenantAccess]) -> None:
    services, _clock, tenant = frozen
    main = make_campaign(services, tenant, [seed_list(services, tenant, ["a@x.test"])])
    two = [VariantSpec(from_name="x"), VariantSpec(from_name="y")]
    cases: list[tuple[list[VariantSpec], dict[str, int], str]] = [
        ([VariantSpec(from_name="x")], {}, "variants"),
        ([VariantSpec(), VariantSpec(from_name="x")], {}, "variants.0"),
        (two, {"test_share": 0}, "test_share"),
        (two, {"wait_minutes": 0}, "wait_minutes"),
    ]
    for variants, kwargs, field in cases:
        with pytest.raises(InvalidInputError) as refused:
            services.ab_tests.create(tenant.operator, main, variants, **kwargs)  # type: ignore[arg-type]
        assert refused.value.field == field
