"""Audience resolution: who gets a campaign, and exactly once, whatever the overlapping
lists, concurrent Send calls or a restart in the middle of resolution."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter

import pytest
from sqlalchemy import Connection, Engine, event, select

from courriel.audience.models import (
    ConsentAction,
    Segment,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from courriel.campaigns.fanout import Fanout
from courriel.campaigns.models import CampaignRecipient, MailClass
from courriel.core.addresses import tenant_address_hash
from courriel.core.db import transaction
from courriel.core.errors import ConflictError
from courriel.delivery.spool import Spool
from courriel.policy.enforcement import PolicyAllowance
from courriel.services import Services
from tests.support.seeds.campaigns import (
    make_campaign,
    recipients,
    record_consent,
    seed_list,
    spooled,
)
from tests.support.tenants import TenantAccess


def _suppress(
    services: Services,
    tenant: TenantAccess,
    email: str,
    reason: SuppressionReason = SuppressionReason.HARD_BOUNCE,
) -> None:
    with transaction(services.storage.tenant(tenant.tenant.id)) as session:
        session.add(
            Suppression(
                address_hash=tenant_address_hash(services.secret_key, tenant.tenant.id, email),
                reason=reason,
                created_at=dt.datetime.now(dt.UTC),
            )
        )


def _reasons(services: Services, tenant: TenantAccess, campaign_id: str) -> dict[str, int]:
    with services.storage.tenant(tenant.tenant.id)() as session:
        rows = session.execute(
            select(CampaignRecipient.state, CampaignRecipient.reason).where(
                CampaignRecipient.campaign_id == campaign_id
            )
        )
        return dict(Counter(f"{s.value}:{r}" for s, r in rows))


def test_the_audience_excludes_everyone_who_must_not_get_marketing(
    services: Services, tenant_a: TenantAccess
) -> None:
    news = seed_list(services, tenant_a, ["ada@gmail.test", "bob@gmail.test", "eve@gmail.test"])
    offers = seed_list(services, tenant_a, ["ada@gmail.test", "cy@gmail.test"], name="Offers")
    seed_list(
        services, tenant_a, ["pending@gmail.test"], list_id=news, status=SubscriptionStatus.PENDING
    )
    seed_list(
        services,
        tenant_a,
        ["gone@gmail.test"],
        list_id=news,
        status=SubscriptionStatus.UNSUBSCRIBED,
    )
    seed_list(
        services, tenant_a, ["bounced@gmail.test"], list_id=news, status=SubscriptionStatus.BOUNCED
    )
    record_consent(services, tenant_a, "bob@gmail.test", news, ConsentAction.WITHDRAWN)
    record_consent(services, tenant_a, "eve@gmail.test", news, ConsentAction.EXPIRED)
    record_consent(services, tenant_a, "eve@gmail.test", news, ConsentAction.RECONFIRMED)
    record_consent(services, tenant_a, "cy@gmail.test", offers, ConsentAction.EXPIRED)
    _suppress(services, tenant_a, "ada@gmail.test")
    campaign_id = make_campaign(services, tenant_a, [news, offers])

    services.campaign_control.send(tenant_a.operator, campaign_id)
    services.scheduler().drain()

    # Ada is on both lists: one message, skipped because her address is suppressed.
    assert sorted(recipients(services, tenant_a, campaign_id)) == [
        "ada@gmail.test",
        "eve@gmail.test",
    ]
    assert spooled(services, campaign_id) == ["eve@gmail.test"]
    assert _reasons(services, tenant_a, campaign_id) == {"skipped:suppressed": 1, "queued:": 1}


def test_transactional_mail_needs_no_marketing_consent_but_never_goes_to_bounced(
    services: Services, tenant_a: TenantAccess
) -> None:
    customers = seed_list(services, tenant_a, ["ada@gmail.test"])
    seed_list(
        services,
        tenant_a,
        ["gone@gmail.test"],
        list_id=customers,
        status=SubscriptionStatus.UNSUBSCRIBED,
    )
    seed_list(
        services,
        tenant_a,
        ["bounced@gmail.test"],
        list_id=customers,
        status=SubscriptionStatus.BOUNCED,
    )
    seed_list(
        services,
        tenant_a,
        ["spam@gmail.test"],
        list_id=customers,
        status=SubscriptionStatus.COMPLAINED,
    )
    seed_list(services, tenant_a, ["hard@gmail.test", "fbl@gmail.test"], list_id=customers)
    # An unsubscribe ends marketing only; a hard bounce or a complaint ends all mail.
    _suppress(services, tenant_a, "gone@gmail.test", SuppressionReason.UNSUBSCRIBE)
    _suppress(services, tenant_a, "hard@gmail.test", SuppressionReason.HARD_BOUNCE)
    _suppress(services, tenant_a, "fbl@gmail.test", SuppressionReason.COMPLAINT)
    campaign_id = make_campaign(services, tenant_a, [customers], mail_class=MailClass.TRANSACTIONAL)

    services.campaign_control.send(tenant_a.operator, campaign_id)
    services.scheduler().drain()

    assert sorted(spooled(services, campaign_id)) == ["ada@gmail.test", "gone@gmail.test"]
    assert _reasons(services, tenant_a, campaign_id) == {"skipped:suppressed": 2, "queued:": 2}


def test_a_segment_narrows_the_audience(services: Services, tenant_a: TenantAccess) -> None:
    news = seed_list(services, tenant_a, ["ada@gmail.test", "bob@yahoo.test", "cy@gmail.test"])
    with transaction(services.storage.tenant(tenant_a.tenant.id)) as session:
        session.add(
            Segment(
                id="seg_gmail",
                name="Gmail",
                expression='email.domain = "gmail.test"',
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    campaign_id = make_campaign(services, tenant_a, [news])
    services.campaign_control.configure(tenant_a.operator, campaign_id, segment_id="seg_gmail")

    services.campaign_control.send(tenant_a.operator, campaign_id)
    services.scheduler().drain()

    assert sorted(spooled(services, campaign_id)) == ["ada@gmail.test", "cy@gmail.test"]


def test_exactly_once_under_concurrent_send_calls(
    services: Services, tenant_a: TenantAccess, caplog: pytest.LogCaptureFixture
) -> None:
    emails = [f"p{i:04d}@example.test" for i in range(600)]
    first = seed_list(services, tenant_a, emails[:400])
    second = seed_list(services, tenant_a, emails[200:], name="Overlap")
    campaign_id = make_campaign(services, tenant_a, [first, second])
    outcomes: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def click_send() -> None:
        barrier.wait()
        try:
            services.campaign_control.send(tenant_a.operator, campaign_id)
            outcomes.append("sent")
        except ConflictError:
            outcomes.append("conflict")

    def scheduler() -> None:
        # Two schedulers, and Send's own first batch: their batches overlap.
        barrier.wait()
        try:
            for _ in range(50):
                services.scheduler().drain()
                services.fanout.run_batch(tenant_a.tenant.id, campaign_id)
        except Exception as exc:  # A failure in a thread is the test's failure.
            errors.append(exc)

    threads = [threading.Thread(target=click_send) for _ in range(4)]
    threads += [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    services.scheduler().drain()

    # No batch failed (Send logs a failed first batch rather than raising it).
    assert errors == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert sorted(outcomes) == ["conflict"] * 3 + ["sent"]
    assert sorted(recipients(services, tenant_a, campaign_id)) == emails
    assert sorted(spooled(services, campaign_id)) == emails


def test_a_scheduler_batch_between_the_job_and_the_status_of_a_send_drops_nothing(
    services: Services, tenant_a: TenantAccess
) -> None:
    # Send records the fan-out job, then moves the campaign to `sending`, in
    # two databases. A scheduler claiming the job in between finds a draft:
    # that must not end the job, or only Send's first batch ever goes out.
    # The scheduler is run exactly there, from inside Send's status update.
    emails = [f"p{i:04d}@example.test" for i in range(300)]
    campaign_id = make_campaign(services, tenant_a, [seed_list(services, tenant_a, emails)])
    sender = threading.get_ident()
    job_recorded: list[bool] = []
    raced: list[int] = []

    def scheduler_in_the_window(
        conn: Connection, _cursor: object, statement: str, *_args: object
    ) -> None:
        if raced or threading.get_ident() != sender:
            return
        if statement.lstrip().upper().startswith("INSERT INTO FANOUT_JOBS"):
            job_recorded.append(True)
        elif job_recorded and conn.engine is not services.storage.control_engine:
            # Send's first statement on the tenant database after the job's commit.
            raced.append(0)
            other = threading.Thread(target=lambda: raced.append(services.scheduler().drain()))
            other.start()
            other.join(60)

    event.listen(Engine, "before_cursor_execute", scheduler_in_the_window)
    try:
        services.campaign_control.send(tenant_a.operator, campaign_id)
    finally:
        event.remove(Engine, "before_cursor_execute", scheduler_in_the_window)
    services.scheduler().drain()

    assert raced == [0, 1]  # The scheduler did run one batch inside the window.
    assert sorted(spooled(services, campaign_id)) == emails
    progress = services.campaign_control.progress(tenant_a.operator, campaign_id)
    assert (progress.queued, progress.status) == (300, "sent")


class _CrashingSpool(Spool):
    """The spool database, with a process that dies once while handing it a batch."""

    crashed = False

    def enqueue(self, *args: object, **kwargs: object) -> None:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("process killed during the batch")
        super().enqueue(*args, **kwargs)  # type: ignore[arg-type]


class _DiesBeforeMarking(Fanout):
    """A fan-out whose process dies after spooling, before marking recipients queued."""

    def _mark_queued(self, *args: object, **kwargs: object) -> int:
        raise RuntimeError("process killed after the spool commit")


@pytest.mark.slow
@pytest.mark.parametrize("crash", ["before-spool", "after-spool"])
def test_exactly_once_after_a_restart_mid_resolution(
    services: Services, tenant_a: TenantAccess, crash: str
) -> None:
    emails = [f"p{i:04d}@example.test" for i in range(1200)]
    news = seed_list(services, tenant_a, emails)
    campaign_id = make_campaign(services, tenant_a, [news])
    services.campaigns.send(tenant_a.operator, campaign_id)
    services.fanout.run_batch(tenant_a.tenant.id, campaign_id)
    if crash == "before-spool":
        dying = Fanout(
            services.storage,
            _CrashingSpool(services.storage.spool),
            services.settings,
            services.clock,
            services.secret_key,
            dkim_keys=services.dkim_keys,
            allowance=PolicyAllowance(services.storage.control),
        )
    else:
        dying = _DiesBeforeMarking(
            services.storage,
            services.spool,
            services.settings,
            services.clock,
            services.secret_key,
            dkim_keys=services.dkim_keys,
            allowance=PolicyAllowance(services.storage.control),
        )
    with pytest.raises(RuntimeError, match="killed"):
        dying.run_batch(tenant_a.tenant.id, campaign_id)

    # A new process (a fresh fan-out, no memory of the old one) carries on.
    restarted = Fanout(
        services.storage,
        services.spool,
        services.settings,
        services.clock,
        services.secret_key,
        dkim_keys=services.dkim_keys,
        allowance=PolicyAllowance(services.storage.control),
    )
    while not restarted.run_batch(tenant_a.tenant.id, campaign_id).finished:
        pass

    assert sorted(recipients(services, tenant_a, campaign_id)) == emails
    assert sorted(spooled(services, campaign_id)) == emails
    progress = services.campaign_control.progress(tenant_a.operator, campaign_id)
    assert (progress.queued, progress.pending, progress.status) == (1200, 0, "sent")
