"""Count a 3-clause segment over a generated audience on SQLite.

Run: ``.venv/bin/python bench/segments.py [CONTACTS]`` (default 1,000,000).
The segment is the issue's example: a property, recent opens and a domain
set. The audience (and 300,000 open events) is generated straight into the
tenant database first; only the count is timed (best of three).
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import peak_rss_mb, report, timed
from courriel.audience.import_batch import BulkInsert
from courriel.audience.models import Contact, PropertyKind
from courriel.config import Settings
from courriel.core.db import transaction
from courriel.core.principal import Principal
from courriel.events.models import Event, EventType
from courriel.services import Services

SEGMENT = 'country = "FR" and opened within 90 days and email.domain in ("yahoo.com", "ymail.com")'
DOMAINS = ("yahoo.com", "ymail.com", "gmail.com", "outlook.com", "orange.fr", "free.fr")
COUNTRIES = ("FR", "DE", "BE", "ES")
CHUNK = 50_000


def populate(services: Services, tenant_id: str, contacts: int) -> None:
    """Contacts with a country property, and open events for a third of them."""
    now = services.clock.now()
    factory = services.storage.tenant(tenant_id)
    for start in range(0, contacts, CHUNK):
        with transaction(factory) as session:
            dialect = session.get_bind().dialect
            people = BulkInsert(
                Contact,
                ("id", "email", "email_domain", "properties", "created_at", "updated_at"),
                dialect,
            )
            events = BulkInsert(
                Event, ("id", "type", "campaign_id", "contact_id", "detail", "occurred_at"), dialect
            )
            stamp = people.value("created_at", now)
            opened = events.value("type", EventType.OPENED)
            rows: list[tuple[Any, ...]] = []
            opens: list[tuple[Any, ...]] = []
            for i in range(start, min(start + CHUNK, contacts)):
                domain = DOMAINS[i % len(DOMAINS)]
                properties = people.value("properties", {"country": COUNTRIES[i % 4]})
                rows.append((f"con_{i:026d}", f"p{i}@{domain}", domain, properties, stamp, stamp))
                if i % 10 < 3:
                    occurred = events.value("occurred_at", now - dt.timedelta(days=i % 180))
                    opens.append(
                        (f"evt_{i:026d}", opened, "cmp_bench", f"con_{i:026d}", "{}", occurred)
                    )
            people.run(session, rows)
            events.run(session, opens)


def main() -> None:
    """Generate, count three times, report the best."""
    contacts = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        services = Services.build(Settings(data_dir=Path(tmp) / "data"))
        services.tenants.migrate_shared()
        tenant = services.tenants.create("bench")
        operator = Principal.operator(tenant.id)
        services.audience.properties.define(
            operator, "country", PropertyKind.CHOICE, list(COUNTRIES)
        )
        populate(services, tenant.id, contacts)
        runs = []
        for _ in range(3):
            with timed() as elapsed:
                found = services.audience.segments.count(operator, SEGMENT)
            runs.append(elapsed[0])
        services.close()
    report(
        "segments",
        {
            "contacts": contacts,
            "matching": found,
            "count_seconds": round(min(runs), 3),
            "peak_rss_mb": peak_rss_mb(),
        },
    )


if __name__ == "__main__":
    main()
