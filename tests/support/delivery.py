"""Delivering in tests (a pytest plugin, registered in tests/conftest.py): fast lane
profiles, a clock that can jump, a `Mailer` that spools messages to contacts of a
real tenant as fan-out would, workers on the test's clock, and `deliver_all`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.policy
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import insert, select

from courriel.audience.models import Contact, Suppression
from courriel.config import Settings
from courriel.config.profiles import ThrottleProfile, default_profiles
from courriel.core.addresses import tenant_address_hash
from courriel.core.db import transaction
from courriel.core.ids import new_id
from courriel.delivery.spool import NewMessage
from courriel.delivery.verp import encode_return_path
from courriel.delivery.worker import DeliveryWorker
from courriel.events.models import Event, EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.services import Services


def fast_profiles(**overrides: ThrottleProfile) -> dict[str, ThrottleProfile]:
    """The built-in profiles without their rate limits (tests are not about speed)."""
    profiles = {
        name: profile.model_copy(
            update={"messages_per_minute": 600_000, "messages_per_hour": 36_000_000}
        )
        for name, profile in default_profiles().items()
    }
    profiles.update(overrides)
    return profiles


class ShiftableClock:
    """Real time, plus an offset a test moves forward to reach a retry."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += dt.timedelta(**delta)


@dataclass
class Mailer:
    """Spools one message per address, to contacts of one tenant, as fan-out would."""

    services: Services
    tenant_id: str
    clock: ShiftableClock
    message_ids: dict[str, str] = field(default_factory=dict)

    def send(self, addresses: list[str], lifetime: dt.timedelta | None = None) -> list[str]:
        now = self.clock.now()
        messages, events = [], []
        with transaction(self.services.storage.tenant(self.tenant_id)) as session:
            known = (
                {
                    c.email: c
                    for c in session.scalars(
                        select(Contact).where(Contact.email.in_(addresses[:500]))
                    )
                }
                if len(addresses) <= 500
                else {}
            )
            contact_ids = {address: c.id for address, c in known.items()}
            # New contacts in one bulk INSERT: the crash test mails 10,000.
            new_contacts: list[dict[str, Any]] = [
                {
                    "id": new_id("con"),
                    "email": address,
                    "email_domain": address.rpartition("@")[2],
                    "created_at": now,
                    "updated_at": now,
                }
                for address in dict.fromkeys(addresses)
                if address not in contact_ids
            ]
            if new_contacts:
                session.execute(insert(Contact), new_contacts)
            contact_ids.update((str(row["email"]), str(row["id"])) for row in new_contacts)
            for address in addresses:
                contact_id = contact_ids[address]
                message_id = new_id("msg")
                self.message_ids[address] = message_id
                mail_from = encode_return_path(
                    self.services.secret_key,
                    self.tenant_id,
                    message_id,
                    self.services.settings.return_path_domain,
                )
                messages.append(
                    NewMessage(
                        tenant_id=self.tenant_id,
                        message_id=message_id,
                        campaign_id=None,
                        contact_id=contact_id,
                        mail_from=mail_from,
                        rcpt_to=address,
                        body=body(address, message_id),
                    )
                )
                events.append(
                    NewEvent(
                        type=EventType.QUEUED,
                        occurred_at=now,
                        message_id=message_id,
                        contact_id=contact_id,
                        dedupe_key=f"{message_id}:queued",
                    )
                )
            session.flush()
            record_events(session, events)
        self.services.spool.enqueue(
            messages,
            now,
            lifetime or dt.timedelta(hours=self.services.settings.queue_lifetime_hours),
        )
        return [m.message_id for m in messages]

    def events(self, address: str) -> list[Event]:
        message_id = self.message_ids[address]
        with self.services.storage.tenant(self.tenant_id)() as session:
            return list(
                session.scalars(
                    select(Event).where(Event.message_id == message_id).order_by(Event.seq)
                )
            )

    def types(self, address: str) -> list[str]:
        return [e.type.value for e in self.events(address)]

    def suppressed(self, address: str) -> str | None:
        key = tenant_address_hash(self.services.secret_key, self.tenant_id, address)
        with self.services.storage.tenant(self.tenant_id)() as session:
            row = session.scalars(
                select(Suppression).where(Suppression.address_hash == key)
            ).first()
            return row.reason.value if row else None


def body(address: str, message_id: str) -> bytes:
    if address.isascii() and len(address) < 60:
        # What EmailMessage.as_bytes gives for a short ASCII address, without
        # the email package's cost (the crash test mails 10,000).
        return (
            f"From: news@acme.test\r\nTo: {address}\r\nSubject: Spring sale\r\n"
            f"Message-ID: <{message_id}@acme.test>\r\n"
            'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\n'
            "MIME-Version: 1.0\r\n\r\nHello, spring is here.\r\n"
        ).encode()
    message = EmailMessage()
    message["From"] = "news@acme.test"
    message["To"] = address
    message["Subject"] = "Spring sale"
    message["Message-ID"] = f"<{message_id}@acme.test>"
    message.set_content("Hello, spring is here.")
    return message.as_bytes(policy=email.policy.SMTP)


WorkerFactory = Callable[..., DeliveryWorker]
DELIVER_ALL_S = 120


@pytest.fixture
def clock() -> ShiftableClock:
    return ShiftableClock()


@pytest.fixture
def mailer(services: Services, clock: ShiftableClock) -> Mailer:
    tenant = services.tenants.create("Sender")
    return Mailer(services, tenant.id, clock)


@pytest.fixture
def make_worker(services: Services, clock: ShiftableClock) -> WorkerFactory:
    """Workers on the test's clock; without lane limits unless `settings` says."""

    def make(owner: str = "test-worker", settings: Settings | None = None) -> DeliveryWorker:
        fast = services.settings.model_copy(update={"throttle_profiles": fast_profiles()})
        return DeliveryWorker(
            spool=services.spool,
            reporter=services.reporter,
            resolver=services.resolver(),
            settings=settings or fast,
            clock=clock,
            owner=owner,
        )

    return make


async def _until_idle(worker: DeliveryWorker) -> None:
    while await worker.run_once():
        pass


def deliver_due(worker: DeliveryWorker) -> None:
    """Run `worker` until a round claims nothing: what is due now has been tried,
    and what was deferred waits in the spool for its retry time."""
    asyncio.run(_until_idle(worker))


async def _until_empty(services: Services, worker: DeliveryWorker, deadline_s: float) -> None:
    scheduler = services.scheduler()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while True:
        await asyncio.to_thread(scheduler.drain)
        handled = await worker.run_once()
        if handled == 0 and await asyncio.to_thread(services.spool.pending_count) == 0:
            return
        assert loop.time() < deadline, "the spool did not empty in time"
        if handled == 0:
            # Deferred (greylisted, throttled): wait as a worker would.
            await asyncio.sleep(services.settings.worker_poll_seconds)


def deliver_all(
    services: Services, worker: DeliveryWorker | None = None, deadline_s: float = DELIVER_ALL_S
) -> None:
    """Fan out what is due and deliver until the spool is empty, as `courriel serve` would.

    Each round the scheduler fans out campaigns that are due (a batch at a
    time, pausing at the spool's high-water mark), then a worker (by default
    `services.worker()`, on the services' clock and settings) delivers a batch
    and reports the finished messages to their tenants. Fails the test if the
    spool is not empty within `deadline_s`.
    """
    asyncio.run(_until_empty(services, worker or services.worker(), deadline_s))


@pytest.fixture
def deliver(make_worker: WorkerFactory) -> Callable[[], None]:
    """Deliver what is due now (`deliver_due`) with a worker on the test's clock."""
    return lambda: deliver_due(make_worker())
