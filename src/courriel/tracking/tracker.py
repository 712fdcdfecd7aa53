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

from sqlalchemy import select

from courriel.audience.models import Contact, MailingList
from courriel.audience.unsubscribe import UnsubscribeOutcome, lists_of_message
from courriel.audience.unsubscribe import unsubscribe_recipient as _unsubscribe
from courriel.campaigns.models import Campaign, CampaignRecipient
from courriel.config import Settings
from courriel.content.links import (
    ClickRef,
    OpenRef,
    UnsubscribeRef,
    resolve_click_target,
    verify_click_token,
    verify_open_token,
    verify_unsubscribe_token,
)
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError
from courriel.core.storage import Storage
from courriel.tracking.classify import machine_open, scanner_click
from courriel.tracking.models import Event, EventType
from courriel.tracking.recorder import NewEvent, record_events

log = logging.getLogger(__name__)

MAX_CACHED_TARGETS = 100_000
MAX_BUFFERED_HITS = 200_000


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
    return url.isascii() and all(0x20 < ord(ch) < 0x7F for ch in url)


class Tracker:
    """Opens, clicks and unsubscribes of recipients."""

    def __init__(
        self, storage: Storage, settings: Settings, clock: Clock, secret_key: bytes
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self._key = secret_key
        self._targets: dict[tuple[str, str, int], str] = {}
        self._hits: list[Hit] = []
        self._lock = threading.Lock()
        self._flusher: asyncio.Task[None] | None = None

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

    def load_target(self, ref: ClickRef) -> str | None:
        """The stored URL of a link, read from the tenant database (None: 404)."""
        try:
            factory = self._storage.tenant(ref.tenant_id)
        except NotFoundError:
            return None
        with factory() as session:
            url = resolve_click_target(session, ref.message_id, ref.link_index)
        if url is None or not safe_location(url):
            return None
        if len(self._targets) >= MAX_CACHED_TARGETS:
            self._targets.clear()
        self._targets[(ref.tenant_id, ref.message_id, ref.link_index)] = url
        return url

    # -- buffered hits ----------------------------------------------------------

    def add_hit(self, hit: Hit) -> None:
        """Buffer a hit; it is written by the next flush (within `tracking_flush_seconds`)."""
        with self._lock:
            if len(self._hits) < MAX_BUFFERED_HITS:
                self._hits.append(hit)

    def flush(self) -> int:
        """Write every buffered hit; return how many events were recorded."""
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
                    Contact.no_tracking,
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
                # The person objected to tracking (or the campaign does not
                # track, or the contact was erased): nothing is kept.
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
        while True:
            await asyncio.sleep(self._settings.tracking_flush_seconds)
            if self._hits:
                await asyncio.to_thread(self.flush)

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

    def unsubscribe(
        self, ref: UnsubscribeRef, ip: str | None, user_agent: str | None
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
