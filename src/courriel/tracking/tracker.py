"""What recipients do: opens, clicks and one-click unsubscribes, from signed tokens.

Clicks and opens are the hot path (every recipient, several times). The
redirect target of a link is cached per (tenant, message, link) once read
from the tenant database, and hits are buffered in memory and written in
batches by `run_flusher` every `tracking_flush_seconds` (≤ 1 s), so a click
costs a token check, a dictionary lookup and an append. Honouring no-tracking
happens when the batch is written: the redirect still works, no event is
kept. Unsubscribes are written at once: they must take effect immediately.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from courriel.audience.models import Contact, MailingList
from courriel.campaigns.models import Campaign, CampaignRecipient
from courriel.campaigns.unsubscribe import (
    UnsubscribeOutcome,
    language_of_message,
    lists_of_message,
)
from courriel.campaigns.unsubscribe import unsubscribe_recipient as _unsubscribe
from courriel.config import Settings
from courriel.content.links import (
    ClickRef,
    OpenRef,
    UnsubscribeRef,
    is_trackable_url,
    verify_click_token,
    verify_open_token,
    verify_unsubscribe_token,
)
from courriel.content.models import TemplateLink
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError
from courriel.core.storage import Storage
from courriel.events.models import Event, EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.tracking.classify import machine_open, scanner_click

log = logging.getLogger(__name__)

MAX_CACHED_TARGETS = 100_000
TargetKey = tuple[str, str, int]  # tenant id, message id, link index
# A fraction of a second of hits at full rate (one batch costs about 0.1 s to
# write). A fuller buffer means the writes fall behind: requests then wait for
# a write rather than any hit being dropped, which also bounds how long a hit
# waits to become durable (within 1 s) when clicks come faster than
# the database takes them.
MAX_BUFFERED_HITS = 2_000


@dataclass(frozen=True)
class Hit:
    """An open or a click as it arrived, before it is checked and recorded."""

    type: EventType
    tenant_id: str
    message_id: str
    at: dt.datetime
    user_agent: str = ""
    link_index: int | None = None
    url: str | None = None


def safe_location(url: str) -> bool:
    """A stored URL we can put in a Location header as is (no spaces, controls, non-ASCII)."""
    # ASCII printable is 0x20-0x7E; the space is the one of those refused.
    return url.isascii() and url.isprintable() and " " not in url


# The stored URLs of links of messages: message → campaign → template version
# → link (as `resolve_click_target`, for a batch of messages at once; built
# once, the statement is not rebuilt per lookup).
_TARGETS = (
    select(CampaignRecipient.id, TemplateLink.position, TemplateLink.url)
    .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
    .join(TemplateLink, TemplateLink.template_version_id == Campaign.template_version_id)
    .where(
        CampaignRecipient.id.in_(bindparam("messages", expanding=True)),
        TemplateLink.position.in_(bindparam("positions", expanding=True)),
    )
)


def resolve_click_target(session: Session, message_id: str, link_index: int) -> str | None:
    """The stored URL a click on link `link_index` of one message leads to (None: none).

    `session` is the tenant database of the token's tenant. The same
    statement and checks as the tracker's batched lookups.
    """
    rows = session.execute(_TARGETS, {"messages": [message_id], "positions": [link_index]})
    for _message, _position, url in rows:
        if is_trackable_url(url) and safe_location(url):
            return str(url)
    return None


class Tracker:
    """Opens, clicks and unsubscribes of recipients."""

    def __init__(
        self, storage: Storage, settings: Settings, clock: Clock, secret_key: bytes
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self._key = secret_key
        self._targets: dict[TargetKey, str] = {}
        self._hits: list[Hit] = []
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._lookups: dict[TargetKey, asyncio.Future[str | None]] = {}
        self._resolver: asyncio.Task[None] | None = None

    def now(self) -> dt.datetime:
        """The time a hit is stamped with."""
        return self._clock.now()

    # -- tokens and targets ---------------------------------------------------

    def click_ref(self, token: str) -> ClickRef | None:
        """The link a click token names (None: tampered or not ours)."""
        return verify_click_token(self._key, token)

    def open_ref(self, token: str) -> OpenRef | None:
        """The message an open token names."""
        return verify_open_token(self._key, token)

    def unsubscribe_ref(self, token: str) -> UnsubscribeRef | None:
        """The message an unsubscribe token names."""
        return verify_unsubscribe_token(self._key, token)

    def cached_target(self, ref: ClickRef) -> str | None:
        """The redirect target if already known in this process (no database access)."""
        return self._targets.get((ref.tenant_id, ref.message_id, ref.link_index))

    async def target(self, ref: ClickRef) -> str | None:
        """The stored URL a click leads to (None: 404), from the cache or the database.

        The first click of each message is not in the cache, and in a real
        campaign most clicks are the first of their message. Lookups waiting
        at the same time are read together: one query per tenant for the
        whole batch, in one worker thread, instead of a session and two
        queries per click.
        """
        key = (ref.tenant_id, ref.message_id, ref.link_index)
        url = self._targets.get(key)
        if url is not None:
            return url
        loop = asyncio.get_running_loop()
        resolver = self._resolver
        if resolver is None or resolver.done() or resolver.get_loop() is not loop:
            # (A task of another, finished event loop never resolves these.)
            self._lookups = {}
            self._resolver = loop.create_task(self._resolve_lookups())
        future = self._lookups.get(key)
        if future is None:
            future = self._lookups[key] = loop.create_future()
        return await asyncio.shield(future)

    async def _resolve_lookups(self) -> None:
        # Lookups arriving while a batch is read form the next batch.
        while self._lookups:
            batch, self._lookups = self._lookups, {}
            try:
                found = await asyncio.to_thread(self.load_targets, list(batch))
            except Exception as exc:  # noqa: BLE001 - handed to the waiting requests
                # The database is unavailable: these requests fail (500), later
                # ones try again. The error's text may hold SQL values: not logged.
                log.warning("reading click targets failed: %s", type(exc).__name__)
                for future in batch.values():
                    if not future.done():
                        future.set_exception(exc)
                continue
            for key, future in batch.items():
                if not future.done():
                    future.set_result(found.get(key))

    def load_targets(self, keys: Sequence[TargetKey]) -> dict[TargetKey, str]:
        """The stored URLs of links, read from their tenants' databases (missing: 404)."""
        by_tenant: dict[str, list[TargetKey]] = defaultdict(list)
        for key in keys:
            by_tenant[key[0]].append(key)
        found: dict[TargetKey, str] = {}
        for tenant_id, tenant_keys in by_tenant.items():
            try:
                factory = self._storage.tenant(tenant_id)
            except NotFoundError:
                continue
            wanted = set(tenant_keys)
            messages = sorted({k[1] for k in tenant_keys})
            positions = sorted({k[2] for k in tenant_keys})
            with factory() as session:
                rows = session.connection().execute(
                    _TARGETS, {"messages": messages, "positions": positions}
                )
                for message_id, position, url in rows:
                    key = (tenant_id, message_id, position)
                    # Stored links are checked when saved; checked again so a
                    # row written any other way never becomes an open redirect.
                    if key in wanted and is_trackable_url(url) and safe_location(url):
                        found[key] = url
        if len(self._targets) + len(found) > MAX_CACHED_TARGETS:
            self._targets.clear()
        self._targets.update(found)
        return found

    # -- buffered hits ----------------------------------------------------------

    def add_hit(self, hit: Hit) -> bool:
        """Buffer a hit for the next flush; True when the buffer is full (call `flush` now)."""
        with self._lock:
            self._hits.append(hit)
            return len(self._hits) >= MAX_BUFFERED_HITS

    def flush(self) -> int:
        """Write every buffered hit; return how many events were recorded."""
        # One writer at a time: two batches of one message would both claim
        # its first click (a unique-key conflict) and the later would wait.
        with self._writing:
            return self._write_buffered()

    def _write_buffered(self) -> int:
        with self._lock:
            hits, self._hits = self._hits, []
        by_tenant: dict[str, list[Hit]] = defaultdict(list)
        for hit in hits:
            by_tenant[hit.tenant_id].append(hit)
        recorded = 0
        for tenant_id, tenant_hits in by_tenant.items():
            try:
                recorded += self.record_hits(tenant_id, tenant_hits)
            except NotFoundError:
                continue
            except Exception:
                # The database is unavailable: keep the hits for the next flush.
                log.exception("recording tracking hits failed; will retry")
                with self._lock:
                    self._hits[:0] = tenant_hits
        return recorded

    def record_hits(self, tenant_id: str, hits: Sequence[Hit]) -> int:
        """Check and record hits of one tenant in one transaction; return events recorded."""
        ids = sorted({h.message_id for h in hits})
        with transaction(self._storage.tenant(tenant_id)) as session:
            rows = session.execute(
                select(
                    CampaignRecipient.id,
                    CampaignRecipient.campaign_id,
                    CampaignRecipient.contact_id,
                    Contact.no_tracking | Contact.restricted,
                    Contact.email_domain,
                    Campaign.tracking,
                )
                .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
                .outerjoin(Contact, Contact.id == CampaignRecipient.contact_id)
                .where(CampaignRecipient.id.in_(ids))
            )
            messages = {r[0]: r for r in rows}
            delivered = {
                m: (at, lane)
                for m, at, lane in session.execute(
                    select(Event.message_id, Event.occurred_at, Event.lane).where(
                        Event.message_id.in_(ids), Event.type == EventType.DELIVERED
                    )
                )
            }
            events = []
            for hit in hits:
                found = messages.get(hit.message_id)
                if found is None:
                    continue
                _, campaign_id, contact_id, no_tracking, domain, campaign_tracks = found
                # The person objected to tracking or restricted processing (or
                # the campaign does not track, or the contact was erased):
                # nothing is kept.
                if no_tracking or not campaign_tracks or contact_id is None:
                    continue
                delivered_at, lane = delivered.get(hit.message_id, (None, None))
                events.append(
                    NewEvent(
                        type=hit.type,
                        occurred_at=hit.at,
                        campaign_id=campaign_id,
                        message_id=hit.message_id,
                        contact_id=contact_id,
                        lane=lane or domain,
                        detail=_detail(hit, delivered_at),
                    )
                )
            return len(record_events(session, events))

    def ensure_flusher(self) -> None:
        """Start the background flush in the running event loop (once)."""
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._run_flusher())

    async def _run_flusher(self) -> None:
        interval = self._settings.tracking_flush_seconds
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            if self._hits:
                await asyncio.to_thread(self.flush)
            # Counted from the start of the last write, not its end: a hit
            # waits at most one interval plus one write (durable within 1 s).
            await asyncio.sleep(max(0.0, started + interval - loop.time()))

    async def close(self) -> None:
        """Stop the background flush and write what is left."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await asyncio.to_thread(self.flush)

    # -- one-click unsubscribe ---------------------------------------------------

    def unsubscribe_lists(self, ref: UnsubscribeRef) -> list[MailingList] | None:
        """The lists a confirmation page names (None: unknown message, 404)."""
        try:
            factory = self._storage.tenant(ref.tenant_id)
        except NotFoundError:
            return None
        with factory() as session:
            return lists_of_message(session, ref.message_id)

    def recipient_language(self, ref: UnsubscribeRef) -> str:
        """The language of the message's recipient, for the page they see ("" unknown)."""
        try:
            factory = self._storage.tenant(ref.tenant_id)
        except NotFoundError:
            return ""
        with factory() as session:
            return language_of_message(session, ref.message_id)

    def unsubscribe(
        self,
        ref: UnsubscribeRef,
        ip: str | None,
        user_agent: str | None,
        method: str = "one-click",
    ) -> UnsubscribeOutcome | None:
        """Unsubscribe at once (RFC 8058); idempotent. None: unknown message (404)."""
        try:
            factory = self._storage.tenant(ref.tenant_id)
        except NotFoundError:
            return None
        with transaction(factory) as session:
            return _unsubscribe(
                session,
                message_id=ref.message_id,
                now=self._clock.now(),
                ip=ip,
                user_agent=user_agent,
                method=method,
            )


def _detail(hit: Hit, delivered_at: dt.datetime | None) -> dict[str, object]:
    if hit.type is EventType.OPENED:
        reason = machine_open(hit.user_agent, hit.at, delivered_at)
        return {"machine": reason is not None, "machine_reason": reason}
    reason = scanner_click(hit.user_agent, hit.at, delivered_at)
    return {
        "link": hit.link_index,
        "url": hit.url,
        "scanner": reason is not None,
        "scanner_reason": reason,
    }
