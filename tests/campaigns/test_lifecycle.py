"""Campaign lifecycle: send kicks the first batch, pause / resume / cancel take effect
at once (waiting messages leave the spool), a sending campaign cannot be edited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from courriel.campaigns.models import CampaignRecipient, CampaignStatus, FanoutJob
from courriel.core.errors import ConflictError, NotFoundError
from courriel.services import Services
from tests.support.seeds.campaigns import make_campaign, recipients, seed_list, spooled
from tests.support.tenants import TenantAccess

EMAILS = [f"person{i:04d}@example.test" for i in range(250)]


def _jobs(services: Services, campaign_id: str) -> list[FanoutJob]:
    with services.storage.control() as session:
        return list(session.scalars(select(FanoutJob).where(FanoutJob.campaign_id == campaign_id)))


def test_send_spools_the_first_batch_before_answering(
    services: Services, tenant_a: TenantAccess
) -> None:
    list_id = seed_list(services, tenant_a, EMAILS)
    campaign_id = make_campaign(services, tenant_a, [list_id])

    campaign = services.campaign_control.send(tenant_a.operator, campaign_id)

    assert campaign.status is CampaignStatus.SENDING
    # No scheduler has run: the first messages are in the spool already.
    assert len(spooled(services, campaign_id)) == 100
    services.scheduler().drain()
    assert sorted(spooled(services, campaign_id)) == EMAILS
    assert services.campaigns.get(tenant_a.operator, campaign_id).status is CampaignStatus.SENT


def test_pause_takes_waiting_messages_back_and_resume_sends_each_once(
    services: Services, tenant_a: TenantAccess
) -> None:
    list_id = seed_list(services, tenant_a, EMAILS)
    campaign_id = make_campaign(services, tenant_a, [list_id])
    services.campaign_control.send(tenant_a.operator, campaign_id)

    paused = services.campaign_control.pause(tenant_a.operator, campaign_id)

    assert paused.status is CampaignStatus.PAUSED
    assert spooled(services, campaign_id) == []
    services.scheduler().drain()
    assert spooled(services, campaign_id) == []
    progress = services.campaign_control.progress(tenant_a.operator, campaign_id)
    assert (progress.status, progress.pending) == ("paused", 100)
    with pytest.raises(ConflictError, match="cannot be edited"):
        services.campaign_control.update(tenant_a.operator, campaign_id, name="Other")

    services.campaign_control.resume(tenant_a.operator, campaign_id)
    services.scheduler().drain()

    assert sorted(spooled(services, campaign_id)) == EMAILS
    assert sorted(recipients(services, tenant_a, campaign_id)) == EMAILS
    progress = services.campaign_control.progress(tenant_a.operator, campaign_id)
    assert (progress.status, progress.queued, progress.pending) == ("sent", 250, 0)


def test_cancel_stops_for_good_and_skips_what_was_waiting(
    services: Services, tenant_a: TenantAccess
) -> None:
    list_id = seed_list(services, tenant_a, EMAILS)
    campaign_id = make_campaign(services, tenant_a, [list_id])
    services.campaign_control.send(tenant_a.operator, campaign_id)

    cancelled = services.campaign_control.cancel(tenant_a.operator, campaign_id)

    assert cancelled.status is CampaignStatus.CANCELLED
    assert spooled(services, campaign_id) == []
    assert _jobs(services, campaign_id) == []
    services.scheduler().drain()
    assert spooled(services, campaign_id) == []
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        reasons = set(
            session.scalars(
                select(CampaignRecipient.reason).where(CampaignRecipient.campaign_id == campaign_id)
            )
        )
    assert reasons == {"cancelled"}
    progress = services.campaign_control.progress(tenant_a.operator, campaign_id)
    assert progress.skipped == 100
    for action in (services.campaign_control.resume, services.campaign_control.pause):
        with pytest.raises(ConflictError):
            action(tenant_a.operator, campaign_id)


def test_a_batch_racing_with_a_pause_takes_its_messages_back(
    services: Services, tenant_a: TenantAccess
) -> None:
    list_id = seed_list(services, tenant_a, EMAILS)
    campaign_id = make_campaign(services, tenant_a, [list_id])
    services.campaign_control.send(tenant_a.operator, campaign_id)
    fanout = services.fanout
    real_mark = fanout._mark_queued

    def mark_then_pause(*args: object, **kwargs: object) -> int:
        # The pause lands while this batch's messages are already in the spool.
        result = real_mark(*args, **kwargs)  # type: ignore[arg-type]
        services.campaign_control.pause(tenant_a.operator, campaign_id)
        return result

    fanout._mark_queued = mark_then_pause  # type: ignore[method-assign]
    fanout.run_batch(tenant_a.tenant.id, campaign_id)

    assert spooled(services, campaign_id) == []


def test_draft_edits_and_their_errors(services: Services, tenant_a: TenantAccess) -> None:
    list_id = seed_list(services, tenant_a, EMAILS[:3])
    campaign_id = make_campaign(services, tenant_a, [list_id])
    control = services.campaign_control

    edited = control.update(tenant_a.operator, campaign_id, name=" Summer ", from_name="Acme")
    assert (edited.name, edited.from_name) == ("Summer", "Acme")
    with pytest.raises(Exception, match="from_email"):
        control.update(tenant_a.operator, campaign_id, from_email="not an address")
    with pytest.raises(Exception, match="rate_per_hour"):
        control.configure(tenant_a.operator, campaign_id, rate_per_hour=0)
    with pytest.raises(Exception, match="segment_id"):
        control.configure(tenant_a.operator, campaign_id, segment_id="seg_nope")
    assert control.plan(tenant_a.operator, campaign_id).rate_per_hour is None
    with pytest.raises(ConflictError):
        control.pause(tenant_a.operator, campaign_id)
    assert services.campaigns.get(tenant_a.operator, campaign_id).name == "Summer"


def test_another_tenants_campaign_is_out_of_reach(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    list_id = seed_list(services, tenant_a, EMAILS[:3])
    campaign_id = make_campaign(services, tenant_a, [list_id])
    control = services.campaign_control
    for action in (control.pause, control.resume, control.cancel, control.progress):
        with pytest.raises(NotFoundError):
            action(tenant_b.operator, campaign_id)


def test_lifecycle_over_http(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    list_id = seed_list(services, tenant_a, EMAILS[:20])
    campaign_id = make_campaign(services, tenant_a, [list_id])
    h = tenant_a.headers

    sent = client.post(f"/v1/campaigns/{campaign_id}/send", headers=h)
    assert sent.status_code == 202, sent.text
    progress = client.get(f"/v1/campaigns/{campaign_id}/progress", headers=h).json()
    assert progress["queued"] == 20
    assert progress["status"] in ("sending", "sent")
    assert client.post(f"/v1/campaigns/{campaign_id}/pause", headers=h).status_code in (200, 409)
    edit = client.patch(f"/v1/campaigns/{campaign_id}", json={"name": "x"}, headers=h)
    assert edit.status_code == 409
    assert "snapshot" in edit.json()["detail"]
    other = client.post(f"/v1/campaigns/{campaign_id}/cancel", headers=tenant_b.headers)
    assert other.status_code == 404
