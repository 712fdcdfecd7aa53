"""IP pools as operators and tenants see them: who may manage them, which pool a
message gets, and every bad input refused with an error naming it, storing nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from courriel.config import Settings
from courriel.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from courriel.core.principal import Principal
from courriel.delivery.spool import NewMessage
from courriel.operations.pools.choice import Snapshot
from courriel.operations.pools.service import OPERATOR
from courriel.services import Services
from tests.support.tenants import TenantAccess


def test_the_most_specific_assignment_wins() -> None:
    snapshot = Snapshot(
        default="house",
        assignments={
            ("ten_a", "tenant"): "a-all",
            ("ten_a", "class:marketing"): "a-news",
            ("ten_a", "campaign:cmp_1"): "a-launch",
        },
    )
    assert snapshot.choose("ten_a", "cmp_1", "marketing") == "a-launch"
    assert snapshot.choose("ten_a", "cmp_2", "marketing") == "a-news"
    assert snapshot.choose("ten_a", None, "transactional") == "a-all"
    assert snapshot.choose("ten_b", "cmp_1", "marketing") == "house"
    assert Snapshot().choose("ten_b", None, "transactional") is None


def test_a_messages_mail_class_is_its_campaigns_else_transactional() -> None:
    def message(campaign_id: str | None, mail_class: str | None = None) -> NewMessage:
        return NewMessage("ten_a", "msg_1", campaign_id, None, "b@a.test", "r@b.test", b"",
                          mail_class=mail_class)  # fmt: skip

    assert message("cmp_1").kind == "marketing"
    # A transactional campaign (an order confirmation sent as a campaign) keeps its class.
    assert message("cmp_1", "transactional").kind == "transactional"
    # Send API, relay and system mail.
    assert message(None).kind == "transactional"


def test_a_campaign_assignment_takes_the_campaigns_mail(
    services: Services, client: TestClient, tenant_a: TenantAccess
) -> None:
    h = tenant_a.headers
    template = client.post(
        "/v1/templates",
        json={"name": "T", "subject": "Hi", "html": '<a href="{{ unsubscribe_url }}">u</a>'},
        headers=h,
    ).json()["id"]
    list_id = client.post("/v1/lists", json={"name": "News"}, headers=h).json()["id"]
    campaign = client.post(
        "/v1/campaigns",
        json={"name": "C", "template_id": template, "lists": [list_id], "from_email": "n@a.test"},
        headers=h,
    ).json()["id"]
    services.pools.create(OPERATOR, "launch")
    services.pools.create(OPERATOR, "news")
    tenant = tenant_a.tenant.id
    services.pools.assign(OPERATOR, "news", tenant, mail_class="marketing")
    services.pools.assign(OPERATOR, "launch", tenant, campaign_id=campaign)
    assert services.pools.snapshots.choose(tenant, campaign, "marketing") == "launch"
    assert services.pools.snapshots.choose(tenant, "cmp_other", "marketing") == "news"
    with pytest.raises(NotFoundError, match="has no campaign 'cmp_missing'"):
        services.pools.assign(OPERATOR, "launch", tenant, campaign_id="cmp_missing")


def test_bad_inputs_are_refused_by_name_and_store_nothing(
    services: Services, tenant_a: TenantAccess
) -> None:
    pools = services.pools
    pools.create(OPERATOR, "bulk")
    pools.add_address(OPERATOR, "bulk", "127.0.0.2", "mta2.example.com")
    pools.create(OPERATOR, "other")
    before = pools.pools(OPERATOR)
    tenant = tenant_a.tenant.id

    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: pools.create(OPERATOR, "Bad Name"), InvalidInputError, "is not a pool name"),
        (lambda: pools.create(OPERATOR, "bulk"), ConflictError, "exists already"),
        (lambda: pools.add_address(OPERATOR, "nope", "127.0.0.3", "m.example.com"),
         NotFoundError, "unknown pool 'nope'"),
        (lambda: pools.add_address(OPERATOR, "bulk", "300.1.1.1", "m.example.com"),
         InvalidInputError, "is not an IP address"),
        (lambda: pools.add_address(OPERATOR, "bulk", "192.0.2.10", "m.example.com"),
         InvalidInputError, "is not an address of this host"),
        (lambda: pools.add_address(OPERATOR, "bulk", "127.0.0.3", "localhost"),
         InvalidInputError, "not a fully qualified host name"),
        (lambda: pools.add_address(OPERATOR, "other", "127.0.0.2", "m.example.com"),
         ConflictError, "already in pool 'bulk'"),
        (lambda: pools.assign(OPERATOR, "nope", tenant), NotFoundError, "unknown pool"),
        (lambda: pools.assign(OPERATOR, "bulk", "ten_missing"), NotFoundError, "unknown tenant"),
        (lambda: pools.assign(OPERATOR, "bulk", tenant, mail_class="newsletters"),
         InvalidInputError, "is not a mail class"),
        (lambda: pools.start_warmup(OPERATOR, "bulk", "google", [100, 50]),
         InvalidInputError, "a warm-up never shrinks"),
        (lambda: pools.start_warmup(OPERATOR, "bulk", "google", []),
         InvalidInputError, "at least one day"),
        (lambda: pools.start_warmup(OPERATOR, "bulk", "google", [0, 10]),
         InvalidInputError, "day 1 of the warm-up schedule"),
        (lambda: pools.start_warmup(OPERATOR, "bulk", "aol", None),
         InvalidInputError, "'aol' is not a provider"),
        (lambda: pools.start_warmup(OPERATOR, "nope", "google", None),
         NotFoundError, "unknown pool"),
        (lambda: pools.resume_warmup(OPERATOR, "bulk", "google"), NotFoundError, "no warm-up plan"),
    ]  # fmt: skip
    for action, error, words in cases:
        with pytest.raises(error, match=words):
            action()
    assert pools.pools(OPERATOR) == before

    # Overlapping assignments: one pool per tenant and scope, never replaced unseen.
    pools.assign(OPERATOR, "bulk", tenant, mail_class="marketing")
    with pytest.raises(ConflictError, match="already sends its marketing mail from pool 'bulk'"):
        pools.assign(OPERATOR, "other", tenant, mail_class="marketing")
    with pytest.raises(ConflictError, match="remove its assignments first"):
        pools.delete(OPERATOR, "bulk")
    assert pools.snapshots.choose(tenant, None, "marketing") == "bulk"


def test_only_platform_administrators_manage_pools_over_the_api(
    services: Services, client: TestClient, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    services.settings.platform_admin_tenant = tenant_a.tenant.id
    admin, other = tenant_a.headers, tenant_b.headers

    assert client.post("/v1/pools", json={"name": "bulk"}, headers=other).status_code == 403
    assert client.get("/v1/pools", headers=other).status_code == 403
    created = client.post("/v1/pools", json={"name": "bulk", "default": True}, headers=admin)
    assert created.status_code == 201, created.text
    added = client.post(
        "/v1/pools/bulk/addresses",
        json={"address": "127.0.0.2", "helo_name": "mta2.example.com"},
        headers=admin,
    )
    assert added.json()["addresses"] == [{"address": "127.0.0.2", "helo_name": "mta2.example.com"}]
    bad = client.post(
        "/v1/pools/bulk/addresses",
        json={"address": "192.0.2.7", "helo_name": "m.example.com"},
        headers=admin,
    )
    assert bad.status_code == 422
    assert "is not an address of this host" in bad.text
    assigned = client.post(
        "/v1/pools/bulk/assignments",
        json={"tenant_id": tenant_b.tenant.id, "mail_class": "transactional"},
        headers=admin,
    )
    assert assigned.status_code == 201, assigned.text
    plan = client.put(
        "/v1/pools/bulk/warmup/google", json={"schedule": [10, 20, 40]}, headers=admin
    )
    assert plan.json() | {"paused_at": None} == {
        "pool": "bulk",
        "provider": "google",
        "schedule": [10, 20, 40],
        "day": 1,
        "today": services.clock.now().date().isoformat(),
        "cap": 10,
        "sent_today": 0,
        "paused": False,
        "paused_reason": "",
        "paused_at": None,
    }
    shrinking = client.put("/v1/pools/bulk/warmup/google", json={"schedule": [9, 1]}, headers=admin)
    assert shrinking.status_code == 422
    assert "never shrinks" in shrinking.text
    assert (
        client.put(
            "/v1/pools/bulk/warmup/google", json={"schedule": [1]}, headers=other
        ).status_code
        == 403
    )
    status = client.get("/v1/pools/bulk/warmup", headers=admin).json()
    assert [s["cap"] for s in status] == [10]  # the refused plan left the stored one intact

    # A tenant sees the pools its own mail leaves from, nothing of another tenant's.
    mine = client.get("/v1/sending-pools", headers=other).json()
    assert mine == [
        {"pool": "bulk", "tenant_id": tenant_b.tenant.id, "scope": "class:transactional"},
        {"pool": "bulk", "tenant_id": tenant_b.tenant.id, "scope": "default"},
    ]
    theirs = client.get("/v1/sending-pools", headers=admin).json()
    assert theirs == [{"pool": "bulk", "tenant_id": tenant_a.tenant.id, "scope": "default"}]

    removed = client.delete(
        "/v1/pools/bulk/assignments",
        params={"tenant_id": tenant_b.tenant.id, "mail_class": "transactional"},
        headers=admin,
    )
    assert removed.status_code == 200, removed.text
    assert client.delete("/v1/pools/bulk", headers=admin).status_code == 204


def test_a_tenant_user_without_users_manage_is_no_administrator(
    services: Services, tenant_a: TenantAccess
) -> None:
    services.settings.platform_admin_tenant = tenant_a.tenant.id
    reader = Principal(tenant_a.tenant.id, frozenset(), actor="key:reader")
    with pytest.raises(ForbiddenError):
        services.pools.administrator(reader)
    assert services.pools.is_administrator(tenant_a.operator)


def test_warmup_status_reports_day_cap_and_sent(services: Services) -> None:
    services.pools.create(OPERATOR, "fresh")
    now = dt.datetime(2027, 5, 1, 12, tzinfo=dt.UTC)
    plans = services.pools.warmup
    plans.put("fresh", "google", [2, 4], now)
    assert plans.reserve("fresh", "google", 5, now) == 2
    assert plans.reserve("fresh", "google", 5, now) == 0
    plans.release("fresh", "google", 1, now)
    (status,) = plans.status(now, "fresh")
    assert (status.day, status.cap, status.sent_today) == (1, 2, 1)
    # Past the last day the plan is complete: nothing is capped.
    later = now + dt.timedelta(days=2)
    assert plans.reserve("fresh", "google", 500, later) is None
    assert plans.status(later, "fresh")[0].complete
    # Other providers fall under the pool's "default" plan when it has one.
    assert plans.reserve("fresh", "yahoo", 5, now) is None
    plans.put("fresh", "default", [3], now)
    assert plans.reserve("fresh", "yahoo", 5, now) == 3


def test_an_unknown_warmup_time_zone_is_a_clear_settings_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="'Mars/Olympus' is not a known time zone"):
        Settings(data_dir=tmp_path, warmup_timezone="Mars/Olympus")
