"""Every page of the web application, timed over a tenant of 1,000,000 contacts.

Run: ``.venv/bin/python bench/web.py [--contacts N] [--campaigns M] [--keep DIR]``
(defaults 1,000,000 and 1,000). The tenant is written straight into its
SQLite database with bulk INSERTs (the services would take an hour for a
million contacts), but the rows are the ones the services write: contacts
with properties on three lists with their consent records; campaigns sent
over the past years, each to ``--recipients`` contacts, with their
recipients, events (queued, delivered, bounced, opened, clicked,
unsubscribed, complained) and the counters the recorder keeps with them
(`events.recorder`'s own spreading, so per campaign, provider, link and
day); suppressions for the hard bounces and complaints; segments,
templates, an import, a sign-up form, a sender domain, an audit trail and a
signed-in admin. With ``--keep DIR`` the seeded data directory is kept and
reused by the next run with the same sizes (seeding a million contacts
takes minutes).

Then the application is built in process over services on that directory,
a session is opened for the admin, and every GET route under /app is
discovered from the app's routes (a ``{…}`` parameter is filled with a real
id of the seeded data, by its name: contact, campaign, list…). Each page is
requested ``--runs`` times after ``--warmups``; the time is measured around
the ASGI call (the server's time, not the client's). A page answering an
error status is an error (the benchmark fails), not a time. The service
calls the pages are built on (contact search, campaign list, statistics,
policy status, audit log, suppressions) are timed the same way, as the
"services" section. Figures: p50 and p95 per page, ``p95_ms`` the slowest
page's p95.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, insert, select

from common import machine_facts, peak_rss_mb, timed
from courriel.accounts.models import SessionStage, User
from courriel.accounts.sessions import Client
from courriel.audience.import_batch import BulkInsert
from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    ConsentSource,
    Contact,
    ContactImport,
    ImportRejection,
    ImportStatus,
    PropertyKind,
    Segment,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from courriel.audience.search import ContactSearch
from courriel.campaigns.models import (
    Campaign,
    CampaignList,
    CampaignRecipient,
    CampaignStatus,
    MailClass,
    RecipientState,
)
from courriel.config import Settings
from courriel.core.addresses import address_hasher
from courriel.core.audit import AuditFilter, record_entry
from courriel.core.db import transaction
from courriel.core.ids import new_id
from courriel.core.principal import Principal
from courriel.events import recorder
from courriel.events.metrics import Facts, link_metrics, metrics
from courriel.events.models import CampaignCounter, EngagementFirst, Event, EventType, StatCounter
from courriel.events.service import EventFilter
from courriel.privacy.rights import Actor, NewRequest
from courriel.services import Services
from courriel.web.app import create_app
from courriel.web.routing import get_paths
from courriel.web.sessioncookie import cookie_name

BUDGET_MS = 200.0
SLOW_S = 1.0
CHUNK = 50_000
# Inbox providers in a European B2C audience, by weight; the lane is their MX.
DOMAINS = (
    ("gmail.com", 34, "gmail-smtp-in.l.google.com"),
    ("yahoo.fr", 6, "mta5.am0.yahoodns.net"),
    ("yahoo.com", 4, "mta6.am0.yahoodns.net"),
    ("outlook.com", 6, "outlook-com.olc.protection.outlook.com"),
    ("hotmail.fr", 8, "hotmail-com.olc.protection.outlook.com"),
    ("orange.fr", 10, "smtp-in.orange.fr"),
    ("free.fr", 8, "mx1.free.fr"),
    ("icloud.com", 5, "mx01.mail.icloud.com"),
    ("laposte.net", 4, "smtp-in.laposte.net"),
    ("gmx.de", 3, "mx00.gmx.net"),
)
COUNTRIES = ("FR", "FR", "FR", "BE", "CH", "DE", "ES", "CA")
CITIES = ("Paris", "Lyon", "Lille", "Nantes", "Bordeaux", "Bruxelles", "Genève", "Montréal")
LISTS = (
    # name, share of the contacts on it (every contact is on the first)
    ("Newsletter", 1.0),
    ("Promotions", 0.4),
    ("Événements", 0.1),
)
SEGMENTS = (
    ("France", 'country = "FR"'),
    ("Recent openers", "opened within 90 days"),
    ("Gmail in Paris", 'city = "Paris" and email.domain in ("gmail.com")'),
)
LINKS = 3
MARKER = "seeded.json"
# Pages for someone without a session (or opened from an emailed one-time
# link): not pages of the application a signed-in user browses.
VISITOR_PAGES = ("/app/sign-in", "/app/sign-out", "/app/invitation", "/app/password-reset")


def _domain_table() -> list[tuple[str, str]]:
    table: list[tuple[str, str]] = []
    for domain, weight, mx in DOMAINS:
        table.extend([(domain, mx)] * weight)
    others = 100 - len(table)
    table.extend((f"company{n}.test", f"mx.company{n}.test") for n in range(others))
    return table


DOMAIN_OF = _domain_table()


def contact_id(i: int) -> str:
    """Ids of the shape `new_id` gives (prefix and 26 characters), in creation order."""
    return f"con_{i:026d}"


def address(i: int) -> tuple[str, str]:
    domain = DOMAIN_OF[(i * 37) % len(DOMAIN_OF)][0]
    return f"user{i}@{domain}", domain


class Seeder:
    """Writes the bench tenant; remembers the ids the pages are filled with."""

    def __init__(self, services: Services, args: argparse.Namespace) -> None:
        self.services = services
        self.args = args
        self.now = services.clock.now()
        self.rng = random.Random(15)
        self.ids: dict[str, str] = {}

    def run(self) -> dict[str, Any]:
        services = self.services
        services.tenants.migrate_shared()
        tenant = services.tenants.create("Bench")
        self.tenant_id = tenant.id
        operator = Principal.operator(tenant.id)
        self.operator = operator
        user = self._admin(operator)
        self.ids["user"] = user.id
        self._big_cache()
        lists = [
            services.audience.create_list(operator, name, f"{name} from Bench", double_opt_in=False)
            for name, _ in LISTS
        ]
        self.list_ids = [lst.id for lst in lists]
        self.ids["list"] = self.list_ids[0]
        services.audience.properties.define(
            operator, "country", PropertyKind.CHOICE, sorted(set(COUNTRIES))
        )
        services.audience.properties.define(operator, "city", PropertyKind.TEXT)
        services.audience.properties.define(operator, "age", PropertyKind.NUMBER)
        with timed() as took:
            self._contacts()
        print(f"seeded {self.args.contacts:,} contacts in {took[0]:.1f} s", flush=True)
        versions = self._templates(operator)
        with timed() as took:
            events = self._campaigns(versions)
        print(
            f"seeded {self.args.campaigns:,} campaigns, {events:,} events in {took[0]:.1f} s",
            flush=True,
        )
        self._extras(operator)
        with timed() as took:
            self._audit(operator, self.args.audit)
        print(f"seeded {self.args.audit:,} audit entries in {took[0]:.1f} s", flush=True)
        return {"tenant_id": tenant.id, "user_id": user.id, "ids": self.ids}

    def _admin(self, operator: Principal) -> User:
        created = self.services.users.create(operator, "admin@bench.test", "admin")
        assert created.one_time_password is not None
        self.services.credentials.change(
            created.user.id, created.one_time_password, "bench password of the web application"
        )
        return self.services.users.get(operator, created.user.id)

    def _factory(self) -> Any:
        return self.services.storage.tenant(self.tenant_id)

    def _big_cache(self) -> None:
        """Seeding only (its services are closed before measuring): a page cache
        the million-row indexes fit in, on every connection from now on."""
        engine = self._factory().kw["bind"]

        def cache(connection: Any, _record: Any) -> None:
            connection.execute("PRAGMA cache_size=-262144")

        event.listen(engine, "connect", cache)
        engine.dispose()

    def _contacts(self) -> None:
        total = self.args.contacts
        for start in range(0, total, CHUNK):
            with transaction(self._factory()) as session:
                dialect = session.get_bind().dialect
                people = BulkInsert(
                    Contact,
                    (
                        "id",
                        "email",
                        "email_key",
                        "email_domain",
                        "first_name",
                        "last_name",
                        "language",
                        "properties",
                        "created_at",
                        "updated_at",
                    ),
                    dialect,
                )
                subs = BulkInsert(
                    Subscription,
                    ("list_id", "contact_id", "status", "created_at", "updated_at"),
                    dialect,
                )
                ledger = BulkInsert(
                    ConsentRecord,
                    (
                        "contact_id",
                        "list_id",
                        "action",
                        "source",
                        "legal_basis",
                        "purpose_text",
                        "purpose_version",
                        "principal",
                        "occurred_at",
                    ),
                    dialect,
                )
                statuses = {s: subs.value("status", s) for s in SubscriptionStatus}
                actions = {a: ledger.value("action", a) for a in ConsentAction}
                source = ledger.value("source", ConsentSource.IMPORT)
                people_rows: list[tuple[Any, ...]] = []
                sub_rows: list[tuple[Any, ...]] = []
                ledger_rows: list[tuple[Any, ...]] = []
                for i in range(start, min(start + CHUNK, total)):
                    cid = contact_id(i)
                    email, domain = address(i)
                    # Joined over the last five years, the oldest first.
                    joined = self.now - dt.timedelta(
                        minutes=(total - i) * 2628 // max(total // 1000, 1)
                    )
                    stamp = people.value("created_at", joined)
                    properties = {
                        "country": COUNTRIES[i % len(COUNTRIES)],
                        "city": CITIES[(i // 7) % len(CITIES)],
                        "age": 18 + i % 60,
                    }
                    people_rows.append(
                        (
                            cid,
                            email,
                            email.casefold(),
                            domain,
                            f"First{i % 5000}",
                            f"Last{i % 7919}",
                            "fr" if i % 3 else "en",
                            people.value("properties", properties),
                            stamp,
                            stamp,
                        )
                    )
                    for n, (_, share) in enumerate(LISTS):
                        if n and (i * 7 + n) % 100 >= share * 100:
                            continue
                        roll = (i * 13 + n) % 100
                        status = (
                            SubscriptionStatus.UNSUBSCRIBED
                            if roll < 3
                            else SubscriptionStatus.BOUNCED
                            if roll < 4
                            else SubscriptionStatus.SUBSCRIBED
                        )
                        list_id = self.list_ids[n]
                        sub_rows.append((list_id, cid, statuses[status], stamp, stamp))
                        ledger_rows.append(
                            (
                                cid,
                                list_id,
                                actions[ConsentAction.GIVEN],
                                source,
                                "consent",
                                f"{LISTS[n][0]} from Bench",
                                1,
                                "import:bench",
                                stamp,
                            )
                        )
                        if status is SubscriptionStatus.UNSUBSCRIBED:
                            ledger_rows.append(
                                (
                                    cid,
                                    list_id,
                                    actions[ConsentAction.WITHDRAWN],
                                    ledger.value("source", ConsentSource.FORM),
                                    "consent",
                                    "",
                                    None,
                                    "recipient",
                                    stamp,
                                )
                            )
                people.run(session, people_rows)
                subs.run(session, sub_rows)
                ledger.run(session, ledger_rows)
        self.ids["contact"] = contact_id(total // 2)

    def _templates(self, operator: Principal) -> list[str]:
        versions = []
        for n in range(5):
            links = "".join(
                f'<p><a href="https://shop.bench.test/{n}/offer{k}">Offer {k}</a></p>'
                for k in range(LINKS)
            )
            template, version = self.services.templates.create(
                operator,
                f"Monthly news {n}",
                "News for {{ contact.first_name }}",
                f'<h1>Hello</h1>{links}<p><a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a></p>',
            )
            versions.append(version.id)
            self.ids.setdefault("template", template.id)
            self.ids.setdefault("version", version.id)
        return versions

    def _campaigns(self, versions: list[str]) -> int:
        """Campaigns one a day back from today; the newest few still drafts or scheduled."""
        total = self.args.campaigns
        per = min(self.args.recipients, self.args.contacts)
        events = 0
        batch: list[tuple[int, str]] = []
        for n in range(total):
            age = total - 1 - n  # days ago
            status = (
                CampaignStatus.DRAFT
                if age < 3
                else CampaignStatus.SCHEDULED
                if age < 4
                else CampaignStatus.CANCELLED
                if n % 97 == 5
                else CampaignStatus.SENT
            )
            cid = f"cmp_{n:026d}"
            started = self.now - dt.timedelta(days=age, hours=2)
            sent = status is CampaignStatus.SENT
            with transaction(self._factory()) as session:
                session.execute(
                    insert(Campaign),
                    [
                        {
                            "id": cid,
                            "name": f"Newsletter #{n + 1}",
                            "status": status,
                            "mail_class": MailClass.MARKETING,
                            "template_version_id": versions[n % len(versions)],
                            "from_email": "news@bench.test",
                            "from_name": "Bench",
                            "tracking": True,
                            "created_at": started - dt.timedelta(days=2),
                            "started_at": started if sent else None,
                            "finished_at": started + dt.timedelta(hours=1) if sent else None,
                        }
                    ],
                )
                session.execute(
                    insert(CampaignList),
                    [{"campaign_id": cid, "list_id": self.list_ids[n % 2]}],
                )
            if sent:
                batch.append((n, cid))
                self.ids["campaign"] = cid
            if len(batch) * per >= CHUNK or (n == total - 1 and batch):
                events += self._sends(batch, per)
                batch = []
        return events

    def _sends(self, batch: list[tuple[int, str]], per: int) -> int:
        """Recipients, events and counters of sent campaigns, as the services write them."""
        total = self.args.contacts
        with transaction(self._factory()) as session:
            log = _EventLog(session, self.rng)
            for n, cid in batch:
                age = self.args.campaigns - 1 - n
                sent_at = self.now - dt.timedelta(days=age, hours=2)
                # Every `total // per`-th contact from a start of its own: the
                # campaigns reach different people, each about as many.
                offset = (n * 7919) % total
                for k in range(per):
                    i = (offset + k * (total // per)) % total
                    log.recipient(
                        cid, f"msg_{cid[-10:]}{k:016d}", i, sent_at + dt.timedelta(seconds=k % 3600)
                    )
            log.save()
            self._suppress(session, log.suppressed)
        return len(log.rows)

    def _suppress(self, session: Any, found: list[tuple[int, SuppressionReason]]) -> None:
        if not found:
            return
        digest = address_hasher(self.services.secret_key, self.tenant_id)
        rows = {}
        for i, reason in found:
            email, _ = address(i)
            rows[digest(email)] = {
                "address_hash": digest(email),
                "reason": reason,
                "detail": "",
                "created_at": self.now,
                "address": email,
            }
        known = set(
            session.scalars(
                select(Suppression.address_hash).where(Suppression.address_hash.in_(list(rows)))
            )
        )
        fresh = [row for key, row in rows.items() if key not in known]
        if fresh:
            session.execute(insert(Suppression), fresh)

    def _extras(self, operator: Principal) -> None:
        services = self.services
        for name, expression in SEGMENTS:
            # Written directly: creating one through the service counts it (seconds here).
            segment_id = new_id("seg")
            with transaction(self._factory()) as session:
                session.add(
                    Segment(id=segment_id, name=name, expression=expression, created_at=self.now)
                )
            self.ids.setdefault("segment", segment_id)
        with transaction(self._factory()) as session:
            session.add(
                ContactImport(
                    id="imp_" + "0" * 26,
                    list_id=self.list_ids[0],
                    file_name="contacts.csv",
                    file_sha256="0" * 64,
                    legal_basis="consent",
                    source="shop",
                    status=ImportStatus.DONE,
                    rows_read=1200,
                    imported=1180,
                    unchanged=0,
                    rejected=20,
                    principal=operator.actor,
                    created_at=self.now - dt.timedelta(days=40),
                    finished_at=self.now - dt.timedelta(days=40),
                )
            )
            session.flush()
            session.add_all(
                ImportRejection(import_id="imp_" + "0" * 26, line=n * 7, reason="not an address")
                for n in range(20)
            )
        self.ids["import"] = "imp_" + "0" * 26
        form = services.signups.create_form(operator, self.list_ids[0], "Join us", "I agree.")
        self.ids["form"] = form.id
        domain = services.sender_domains.add(operator, "bench.test")
        self.ids["domain"] = domain.domain
        with transaction(self._factory()) as session:
            first = session.scalar(select(Suppression.id).order_by(Suppression.id).limit(1))
        if first is not None:
            self.ids["suppression"] = str(first)

    def _audit(self, operator: Principal, entries: int) -> None:
        actions = ("contacts.listed", "contacts.searched", "campaign.sent", "consent.withdrawn")
        for start in range(0, entries, 5000):
            with transaction(self._factory()) as session:
                for n in range(start, min(start + 5000, entries)):
                    at = self.now - dt.timedelta(minutes=(entries - n) * 10)
                    record_entry(
                        session, at, operator, actions[n % len(actions)], None, {"count": 50}
                    )


class _EventLog:
    """What the fan-out, the delivery reports and the tracker record for a batch of sends.

    Counters are spread by the recorder's own code (`events.recorder`), so
    they are the rows it keeps for these events.
    """

    def __init__(self, session: Any, rng: random.Random) -> None:
        self.session = session
        self.rng = rng
        dialect = session.get_bind().dialect
        self.recipients = BulkInsert(
            CampaignRecipient, ("id", "campaign_id", "contact_id", "state", "created_at"), dialect
        )
        self.log = BulkInsert(
            Event,
            (
                "id",
                "type",
                "campaign_id",
                "message_id",
                "contact_id",
                "lane",
                "detail",
                "dedupe_key",
                "occurred_at",
            ),
            dialect,
        )
        self.queued = self.recipients.value("state", RecipientState.QUEUED)
        self.types = {t: self.log.value("type", t) for t in EventType}
        self.recipient_rows: list[tuple[Any, ...]] = []
        self.rows: list[tuple[Any, ...]] = []
        self.kinds: Counter[Any] = Counter()
        self.counts: Counter[tuple[str, EventType]] = Counter()
        self.firsts: list[tuple[str, str]] = []
        self.suppressed: list[tuple[int, SuppressionReason]] = []

    def event(
        self,
        facts: Facts,
        at: dt.datetime,
        message: tuple[str, str, str],
        lane: str | None,
        dedupe: str | None = None,
    ) -> None:
        cid, mid, contact = message
        kind = facts.type
        self.rows.append(
            (
                f"evt_{mid[4:]}{len(self.rows):08d}",
                self.types[kind],
                cid,
                mid,
                contact,
                lane,
                self.log.value("detail", facts.detail),
                dedupe,
                self.log.value("occurred_at", at),
            )
        )
        self.counts[(cid, kind)] += 1
        link = None
        if "link" in facts.detail:
            link = (str(facts.detail["link"]), tuple(link_metrics(facts)))
        day = recorder._day(at)  # noqa: SLF001 (the recorder's own day key)
        self.kinds[(cid, day, lane, tuple(metrics(facts)), link)] += 1

    def recipient(self, cid: str, mid: str, i: int, at: dt.datetime) -> None:
        """One message: queued, then delivered or bounced; opened, clicked… as people do."""
        contact = contact_id(i)
        message = (cid, mid, contact)
        self.recipient_rows.append(
            (mid, cid, contact, self.queued, self.recipients.value("created_at", at))
        )
        lane = DOMAIN_OF[(i * 37) % len(DOMAIN_OF)][1]
        rng = self.rng
        self.event(Facts(EventType.QUEUED, {}), at, message, None, f"{mid}:queued")
        roll = rng.random()
        final_at = at + dt.timedelta(seconds=5)
        if roll < 0.025:
            hard = roll < 0.015
            detail: dict[str, object] = {
                "code": 550 if hard else 452,
                "reply": "5.1.1 user unknown" if hard else "4.2.2 mailbox full",
                "bounce": "hard" if hard else "soft",
            }
            self.event(Facts(EventType.BOUNCED, detail), final_at, message, lane, f"{mid}:final")
            if hard:
                self.suppressed.append((i, SuppressionReason.HARD_BOUNCE))
            return
        delivered: dict[str, object] = {"code": 250, "reply": "2.0.0 OK"}
        self.event(Facts(EventType.DELIVERED, delivered), final_at, message, lane, f"{mid}:final")
        if rng.random() < 0.28:
            self._engaged(message, lane, final_at + dt.timedelta(minutes=rng.randrange(1, 2880)))
        if rng.random() < 0.0005:
            complained = final_at + dt.timedelta(hours=3)
            self.event(Facts(EventType.COMPLAINED, {}), complained, message, lane)
            self.suppressed.append((i, SuppressionReason.COMPLAINT))

    def _engaged(self, message: tuple[str, str, str], lane: str, at: dt.datetime) -> None:
        rng = self.rng
        mid = message[1]
        machine = rng.random() < 0.3
        opened: dict[str, Any] = {"machine": True} if machine else {}
        self.firsts.append((mid, "open"))
        if not machine:
            self.firsts.append((mid, "human-open"))
        first = Facts(EventType.OPENED, opened, first_open=True, first_human_open=not machine)
        self.event(first, at, message, lane)
        if rng.random() < 0.3:
            again = at + dt.timedelta(hours=rng.randrange(1, 48))
            self.event(Facts(EventType.OPENED, opened), again, message, lane)
        if not machine and rng.random() < 0.18:
            link = rng.randrange(LINKS)
            clicked = {"link": link, "url": f"https://shop.bench.test/offer{link}"}
            self.firsts.extend([(mid, "click"), (mid, f"click:{link}")])
            facts = Facts(EventType.CLICKED, clicked, first_click=True, first_link_click=True)
            self.event(facts, at + dt.timedelta(seconds=30), message, lane)
        if rng.random() < 0.01:
            left = at + dt.timedelta(minutes=1)
            self.event(
                Facts(EventType.UNSUBSCRIBED, {}), left, message, lane, f"{mid}:unsubscribed"
            )

    def save(self) -> None:
        session = self.session
        self.recipients.run(session, self.recipient_rows)
        self.log.run(session, self.rows)
        connection = session.connection()
        # The recorder's own upserts and spreading: its counters, not a copy of them.
        counters = recorder._adding_upsert(session, CampaignCounter.__table__)  # noqa: SLF001
        stats = recorder._adding_upsert(session, StatCounter.__table__)  # noqa: SLF001
        spread = recorder._spread(self.kinds)  # noqa: SLF001
        connection.execute(
            counters,
            [
                {"campaign_id": c, "type": t, "count": v}
                for (c, t), v in sorted(self.counts.items())
            ],
        )
        connection.execute(
            stats,
            [
                {"campaign_id": c, "dimension": d, "key": k, "metric": m, "count": v}
                for (c, d, k, m), v in sorted(spread.items())
            ],
        )
        connection.execute(
            insert(EngagementFirst), [{"message_id": m, "kind": k} for m, k in self.firsts]
        )


# -- measuring ---------------------------------------------------------------


class ServerTimer:
    """ASGI wrapper: the time the application took for each request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.last = time.perf_counter() - started


# Which seeded id fills a route parameter, by a word of its name or of the path before it.
_PARAM_WORDS = (
    ("contact", "contact"),
    ("campaign", "campaign"),
    ("list", "list"),
    ("template", "template"),
    ("version", "version"),
    ("segment", "segment"),
    ("import", "import"),
    ("user", "user"),
    ("member", "user"),
    ("form", "form"),
    ("signup", "form"),
    ("domain", "domain"),
    ("suppression", "suppression"),
    ("endpoint", "endpoint"),
    ("request", "request"),
    ("language", "language"),
    ("roles", "role"),
)
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def fill(path: str, ids: dict[str, str]) -> str | None:
    """`path` with each parameter replaced by a seeded id; None when one is unknown."""
    result = path
    for match in _PARAM.finditer(path):
        name = match.group(1).lower()
        before = path[: match.start()].rstrip("/").rpartition("/")[2].lower()
        value = None
        for word, key in _PARAM_WORDS:
            if word in name or (name in ("id", "key", "name") and word in before):
                value = ids.get(key)
                if value is not None:
                    break
        if name in ("dimension", "breakdown"):
            value = "provider"
        if value is None:
            return None
        result = result.replace(match.group(0), value, 1)
    return result


def page_routes(app: Any) -> list[str]:
    """The GET pages of the application (under /app), but those of `VISITOR_PAGES`."""
    return [path for path in get_paths(app, "/app") if not path.startswith(VISITOR_PAGES)]


DOWNLOADS = ("/export", ".csv", ".js", "/proof")


def is_download(path: str) -> bool:
    """A file to download rather than a page to view."""
    return path.endswith(DOWNLOADS)


def add_page_objects(services: Services, seeded: dict[str, Any]) -> None:
    """A webhook endpoint, a custom role and a data-subject request, for their pages
    (made at each run, over a seeded directory too; idempotent)."""
    operator = Principal.operator(seeded["tenant_id"])
    ids = seeded["ids"]
    ids["language"] = "fr"
    endpoints = services.webhooks.list(operator)
    if not endpoints:
        endpoints = [services.webhooks.create(operator, "http://127.0.0.1:9/hook", ["*"]).endpoint]
    ids["endpoint"] = endpoints[0].id
    if not any(role.name == "bench-reader" for role in services.roles.list(operator)):
        services.roles.create(operator, "bench-reader", ["lists:read", "stats:read"])
    ids["role"] = "bench-reader"
    actor = Actor.of(operator)
    requests = services.privacy_rights.list_requests(actor, None, 1)
    if not requests.items:
        email = address(1)[0]
        services.privacy_rights.create(actor, NewRequest(type="access", email=email))
        requests = services.privacy_rights.list_requests(actor, None, 1)
    ids["request"] = requests.items[0].id


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def figures_of(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 1),
        "p95_ms": round(percentile(samples, 0.95) * 1000, 1),
    }


def sign_in(services: Services, seeded: dict[str, Any]) -> str:
    """A full session of the seeded admin (password and second factor passed); its token."""
    user = services.users.get(Principal.operator(seeded["tenant_id"]), seeded["user_id"])
    with transaction(services.storage.control) as session:
        token: str = services.sessions.start(
            session, user, SessionStage.FULL, "password+totp", Client(ip="127.0.0.1")
        )
    return token


def measure_pages(
    services: Services, seeded: dict[str, Any], token: str, runs: int, warmups: int
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Every GET page under /app: p50 and p95 of the server's time, or its error."""
    app = create_app(services)
    timer = ServerTimer(app)
    base = services.settings.public_url or "http://127.0.0.1:8025"
    client = TestClient(timer, base_url=base)
    client.cookies.set(cookie_name(services.settings), token)
    pages: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    skipped: list[str] = []
    for template in page_routes(app):
        path = fill(template, seeded["ids"])
        if path is None:
            skipped.append(template)
            continue
        samples = []
        status = 0
        wanted = warmups + runs
        n = 0
        while n < wanted:
            answer = client.get(path, follow_redirects=False)
            status = answer.status_code
            if status >= 400:
                break
            if n >= warmups:
                samples.append(timer.last)
            elif timer.last >= SLOW_S:
                wanted = min(wanted, warmups + 3)  # seconds a view: a few are enough
            n += 1
        if status >= 400:
            errors[path] = {"status": status}
            print(f"{path:<60} ERROR {status}", flush=True)
            continue
        pages[path] = {**figures_of(samples), "status": status}
        print(
            f"{path:<60} p50 {pages[path]['p50_ms']:>8} ms  p95 {pages[path]['p95_ms']:>8} ms",
            flush=True,
        )
    client.close()
    return pages, errors, skipped


def measure_services(
    services: Services, seeded: dict[str, Any], token: str, runs: int
) -> dict[str, dict[str, float]]:
    """The service calls the pages use, each timed `runs` times (after one warm-up)."""
    signed_in = services.sessions.resolve(token)
    assert signed_in is not None
    principal = services.sessions.principal(signed_in)
    assert principal is not None
    ids = seeded["ids"]
    contact = services.audience.get_contact(principal, ids["contact"])
    middle = services.audience.list_contacts(principal, None, 50).items[-1].id
    tenth_page = None  # the cursor of the tenth page of campaigns (newest first)
    for _ in range(9):
        tenth_page = services.campaigns.list(principal, tenth_page, 50).next_cursor
    today = services.clock.now().date()
    calls: dict[str, Callable[[], object]] = {
        "contacts.first_page": lambda: services.audience.list_contacts(principal, None, 50),
        "contacts.next_page": lambda: services.audience.list_contacts(principal, middle, 50),
        "contacts.search_email": lambda: services.audience.list_contacts(
            principal, None, 50, ContactSearch(email=contact.email.upper())
        ),
        "contacts.search_prefix": lambda: services.audience.list_contacts(
            principal, None, 50, ContactSearch(email_prefix=contact.email[:9])
        ),
        "contacts.search_property": lambda: services.audience.list_contacts(
            principal, None, 50, ContactSearch(property_value=("city", "Lyon"))
        ),
        # No contact matches: the worst case, every row is read (JSON or LIKE '%…%').
        "contacts.search_property_none": lambda: services.audience.list_contacts(
            principal, None, 50, ContactSearch(property_value=("city", "Nowhere"))
        ),
        "contacts.search_name_none": lambda: services.audience.list_contacts(
            principal, None, 50, ContactSearch(name="Nobody")
        ),
        "contacts.get": lambda: services.audience.get_contact(principal, ids["contact"]),
        "contacts.consent_history": lambda: services.audience.consent_history(
            principal, ids["contact"]
        ),
        "contacts.subscriptions": lambda: services.audience.subscriptions_of(
            principal, ids["contact"]
        ),
        "contacts.events": lambda: services.events.query(
            principal, EventFilter(contact_id=ids["contact"]), None, 50
        ),
        "campaign.events": lambda: services.events.query(
            principal, EventFilter(campaign_id=ids["campaign"]), None, 50
        ),
        "lists.list": lambda: services.audience.list_lists(principal, None, 50),
        "campaigns.list": lambda: services.campaigns.list(principal, None, 50),
        "campaigns.list_page_10": lambda: services.campaigns.list(principal, tenth_page, 50),
        "stats.campaign": lambda: services.stats.campaign(principal, ids["campaign"]),
        "stats.by_provider": lambda: services.stats.campaign_breakdown(
            principal, ids["campaign"], "provider"
        ),
        "stats.by_link": lambda: services.stats.campaign_breakdown(
            principal, ids["campaign"], "link"
        ),
        "stats.by_day": lambda: services.stats.campaign_breakdown(
            principal, ids["campaign"], "day"
        ),
        "stats.tenant_days_30": lambda: services.stats.tenant_days(
            principal, today - dt.timedelta(days=29), today
        ),
        "stats.tenant_days_365": lambda: services.stats.tenant_days(
            principal, today - dt.timedelta(days=365), today
        ),
        "policy.status": lambda: services.policy.status(principal),
        "audit.first_page": lambda: services.audit.entries(principal, None, None, 50),
        "audit.by_action": lambda: services.audit.entries(
            principal, AuditFilter(action="campaign.sent"), None, 50
        ),
        "audit.verify": lambda: services.audit.verify(principal),
        "suppressions.list": lambda: services.audience.suppressions.list(principal, None, 50),
        "segments.get": lambda: services.audience.segments.get(principal, ids["segment"]),
        "segments.list": lambda: services.audience.segments.list(principal),
    }
    found: dict[str, dict[str, float]] = {}
    for name, call in calls.items():
        samples = []
        try:
            with timed() as warm:
                call()
            # A call of seconds is timed a few times only: its figure is clear.
            for _ in range(runs if warm[0] < SLOW_S else 3):
                with timed() as took:
                    call()
                samples.append(took[0])
        except Exception as error:  # reported; the other calls still run
            print(f"{name:<32} ERROR {type(error).__name__}: {error}", flush=True)
            found[name] = {"error": 1.0}
            continue
        found[name] = figures_of(samples)
        print(
            f"{name:<32} p50 {found[name]['p50_ms']:>8} ms  p95 {found[name]['p95_ms']:>8} ms",
            flush=True,
        )
    return found


def main() -> None:
    """Seed (or reuse), measure the pages and the services, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=1_000)
    parser.add_argument("--recipients", type=int, default=1_000, help="per sent campaign")
    parser.add_argument("--audit", type=int, default=20_000, help="audit trail entries")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="seed into DIR once and reuse it")
    args = parser.parse_args()
    sizes = {k: getattr(args, k) for k in ("contacts", "campaigns", "recipients", "audit")}
    holder = None
    if args.keep is None:
        holder = tempfile.TemporaryDirectory()
        root = Path(holder.name)
    else:
        root = args.keep / "_".join(f"{k}{v}" for k, v in sizes.items())
        root.mkdir(parents=True, exist_ok=True)
    # The bench's webhook receiver is on loopback, which the SSRF rules refuse
    # unless allowed (it never receives anything: no event is delivered here).
    settings = Settings(
        data_dir=root / "data", resolver="sandbox", webhook_allowed_networks=["127.0.0.0/8"]
    )
    marker = root / MARKER
    seed_seconds = 0.0
    if marker.exists():
        seeded = json.loads(marker.read_text(encoding="utf-8"))
        print(f"reusing the tenant seeded in {root}", flush=True)
    else:
        seeding = Services.build(settings)
        with timed() as took:
            seeded = Seeder(seeding, args).run()
        seeding.close()
        seed_seconds = took[0]
        marker.write_text(json.dumps(seeded), encoding="utf-8")
        print(f"seeded in {seed_seconds:.1f} s", flush=True)
    # A fresh start over the seeded directory, as a server after `courriel migrate`
    # (migrations added since it was seeded, e.g. indexes, are applied here).
    services = Services.build(settings)
    services.tenants.migrate_all()
    try:
        token = sign_in(services, seeded)
        add_page_objects(services, seeded)
        pages, errors, skipped = measure_pages(services, seeded, token, args.runs, args.warmups)
        calls = measure_services(services, seeded, token, args.runs)
    finally:
        services.close()
        if holder is not None:
            holder.cleanup()
    # Downloads (exports, CSV files, scripts) are timed and reported too, but
    # a whole audit log or a campaign's CSV is not a page: the budget is pages'.
    viewed = {p: f for p, f in pages.items() if not is_download(p)}
    slowest = max(viewed, key=lambda p: viewed[p]["p95_ms"]) if viewed else None
    p95 = viewed[slowest]["p95_ms"] if slowest else None
    downloads = {p: f for p, f in pages.items() if is_download(p)}
    result = {
        **sizes,
        "p95_ms": p95,
        "downloads": downloads,
        "slowest_page": slowest,
        "budget_ms": BUDGET_MS,
        "within_budget": p95 is not None and p95 <= BUDGET_MS,
        "pages": pages,
        "errors": errors,
        "skipped": skipped,
        "services": calls,
        "seed_seconds": round(seed_seconds, 1),
        "peak_rss_mb": peak_rss_mb(),
    }
    print("== web")
    for key, value in machine_facts().items():
        print(f"{key:>12}: {value}")
    print(
        f"{'pages':>12}: {len(viewed)} timed, {len(downloads)} downloads, {len(errors)} errors,"
        f" {len(skipped)} skipped"
    )
    print(f"{'slowest':>12}: {slowest} p95 {p95} ms (budget {BUDGET_MS} ms)")
    over = sorted(n for n, f in calls.items() if f.get("p95_ms", 0) > BUDGET_MS or "error" in f)
    print(f"{'services':>12}: over budget or failing: {', '.join(over) or 'none'}")
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=True))
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
