"""Resolve a campaign's audience of 1,000,000 contacts into the spool on SQLite.

Run: ``.venv/bin/python bench/audience.py [CONTACTS]`` (default 1,000,000).
Contacts are written straight into the tenant database (two overlapping
lists, so deduplication is exercised); then Send is called and the scheduler
drains the campaign: every contact is resolved, composed and committed to the
spool. Figures: contacts per second over the whole fan-out, peak RSS (the
audience is never held in memory), and the seconds from Send to the first
message committed in the spool.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, insert, select

from common import peak_rss_mb, report
from courriel.audience.models import Contact, MailingList, Subscription, SubscriptionStatus
from courriel.config import Settings
from courriel.core.db import transaction
from courriel.core.ids import new_id
from courriel.core.principal import Principal
from courriel.delivery.models import SpoolMessage
from courriel.services import Services

CHUNK = 20_000


def seed(services: Services, tenant_id: str, contacts: int) -> list[str]:
    """Two lists sharing a tenth of the contacts; returns their ids."""
    now = dt.datetime.now(dt.UTC)
    lists = [new_id("lst"), new_id("lst")]
    with transaction(services.storage.tenant(tenant_id)) as session:
        for list_id in lists:
            session.add(MailingList(id=list_id, name="Bench", double_opt_in=False, created_at=now))
    for start in range(0, contacts, CHUNK):
        ids = [new_id("con") for _ in range(start, min(start + CHUNK, contacts))]
        people = [
            {
                "id": cid,
                "email": f"person{start + i}@example{(start + i) % 97}.test",
                "email_domain": f"example{(start + i) % 97}.test",
                "properties": {},
                "no_tracking": False,
                "created_at": now,
                "updated_at": now,
            }
            for i, cid in enumerate(ids)
        ]
        subscriptions = [
            {
                "list_id": lists[(start + i) % 2],
                "contact_id": cid,
                "status": SubscriptionStatus.SUBSCRIBED,
                "updated_at": now,
            }
            for i, cid in enumerate(ids)
        ] + [
            {
                "list_id": lists[(start + i + 1) % 2],
                "contact_id": cid,
                "status": SubscriptionStatus.SUBSCRIBED,
                "updated_at": now,
            }
            for i, cid in enumerate(ids)
            if i % 10 == 0
        ]
        with transaction(services.storage.tenant(tenant_id)) as session:
            session.execute(insert(Contact), people)
            session.execute(insert(Subscription), subscriptions)
    return lists


def spooled(services: Services) -> int:
    with services.storage.spool() as session:
        return int(session.scalar(select(func.count()).select_from(SpoolMessage)) or 0)


def main() -> None:
    """Seed, send, drain, report."""
    contacts = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        # The sandbox resolver: `.test` sender domains count as verified (no DNS here).
        # No worker drains the spool here: the high-water mark would stop the fan-out.
        settings = Settings(
            data_dir=Path(tmp) / "data",
            fanout_batch_size=2000,
            resolver="sandbox",
            spool_high_water=None,
        )
        services = Services.build(settings)
        services.tenants.migrate_shared()
        tenant = services.tenants.create("bench")
        operator = Principal.operator(tenant.id)
        lists = seed(services, tenant.id, contacts)
        template, _ = services.templates.create(
            operator,
            "Bench",
            "News for {{ contact.email }}",
            '<p>Hello.</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
        )
        campaign = services.campaigns.create(
            operator,
            name="Bench",
            template_id=template.id,
            list_ids=lists,
            from_email="news@acme.test",
        )
        start = time.perf_counter()
        services.campaign_control.send(operator, campaign.id)
        first_spooled = time.perf_counter() - start
        assert spooled(services) > 0
        services.scheduler().drain()
        elapsed = time.perf_counter() - start
        total = spooled(services)
        services.close()
    assert total == contacts, (total, contacts)
    report(
        "audience",
        {
            "contacts": contacts,
            "seconds": round(elapsed, 1),
            "contacts_per_s": round(contacts / elapsed),
            "peak_rss_mb": peak_rss_mb(),
            "first_spooled_s": round(first_spooled, 3),
        },
    )


if __name__ == "__main__":
    main()
