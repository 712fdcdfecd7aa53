"""Delivering the webhook outbox: signed POSTs, back-off with jitter, disabling.

Each due delivery is claimed under a short lease (SKIP LOCKED on
PostgreSQL), sent to the address the SSRF guard checked (pinned: the name
is not resolved a second time by the HTTP client), and its outcome stored.
Only a 2xx answer counts; a redirect is a failure and is never followed.
Failures are retried with exponential back-off and jitter until the retry
window (24 h by default) has passed; an endpoint whose every attempt failed
for that long is disabled with a notice on the endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from courriel.config import Settings
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.core.masking import mask_addresses, mask_addresses_in
from courriel.core.storage import Storage
from courriel.events.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookTenant,
)
from courriel.events.webhooks.ports import PayloadStyles
from courriel.events.webhooks.signer import SIGNATURE_HEADER, sign
from courriel.events.webhooks.ssrf import Network, Resolve, Target, check_url, system_resolve

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=2)
FIRST_RETRY_S = 30
MAX_RETRY_S = 3600


def backoff_seconds(attempts: int, draw: Callable[[], float] = random.random) -> float:
    """Delay after the `attempts`-th failure: 30 s doubling to 1 h, jittered to 50-100 %."""
    base = float(min(FIRST_RETRY_S * 2 ** max(attempts - 1, 0), MAX_RETRY_S))
    return base * (0.5 + 0.5 * draw())


@dataclass(frozen=True)
class Attempt:
    """What one POST to a receiver gave."""

    ok: bool
    status_code: int | None
    error: str


@dataclass(frozen=True)
class _Claimed:
    delivery_id: str
    endpoint_id: str
    event_id: str
    url: str
    secret: str
    payload: str
    style: str = "courriel"
    # Set up by someone who sees personal data masked: it goes out masked too.
    masked: bool = False


# Keys whose values describe a person's device or network (never masked: left out).
_DEVICE_KEYS = frozenset({"ip", "user_agent", "agent"})


def masked_body(payload: str) -> str:
    """A JSON body with every address masked (`a***@g***.com`) and device data left out.

    For endpoints set up by a principal that sees personal data masked: what
    it cannot read in the API it cannot receive by webhook either. The result
    depends only on the body, so every retry sends the same bytes.
    """
    try:
        body = json.loads(payload)
    except ValueError:
        return mask_addresses(payload)
    return json.dumps(
        _without_device(mask_addresses_in(body)), sort_keys=True, separators=(",", ":")
    )


def _without_device(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_device(v) for k, v in value.items() if k not in _DEVICE_KEYS}
    if isinstance(value, list):
        return [_without_device(v) for v in value]
    return value


def post_signed(
    target: Target, *, body: bytes, secret: str, event_id: str, now: int, timeout: float
) -> Attempt:
    """POST `body` to the pinned address of `target`, signed; never follows a redirect."""
    parts = urlsplit(target.url)
    literal = f"[{target.address}]" if ":" in target.address else target.address
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    headers = {
        "Host": host_header,
        "Content-Type": "application/json",
        "User-Agent": "Courriel-Webhooks/1",
        "Courriel-Event-Id": event_id,
        SIGNATURE_HEADER: sign(secret, now, body),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        with httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False) as client:
            response = client.post(
                f"{target.scheme}://{literal}:{target.port}{path}",
                content=body,
                headers=headers,
                extensions=extensions,
            )
    except httpx.HTTPError as exc:
        return Attempt(ok=False, status_code=None, error=type(exc).__name__)
    if response.is_redirect:
        return Attempt(ok=False, status_code=response.status_code, error="redirect not followed")
    error = "" if response.is_success else f"HTTP {response.status_code}"
    return Attempt(ok=response.is_success, status_code=response.status_code, error=error)


class WebhookDeliverer:
    """Sends due outbox rows of every tenant that has endpoints."""

    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        *,
        allowed: Sequence[Network] = (),
        resolve: Resolve = system_resolve,
        draw: Callable[[], float] = random.random,
        styles: PayloadStyles | None = None,
    ) -> None:
        self._styles = styles
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self._allowed = tuple(allowed)
        self._resolve = resolve
        self._draw = draw

    def run_once(self, limit: int = 100) -> int:
        """Attempt up to `limit` due deliveries per tenant; return how many were attempted."""
        with self._storage.control() as session:
            tenants = list(session.scalars(select(WebhookTenant.tenant_id)))
        done = 0
        for tenant_id in tenants:
            with contextlib.suppress(NotFoundError):
                done += self.run_tenant(tenant_id, limit)
        return done

    def run_tenant(self, tenant_id: str, limit: int = 100) -> int:
        """Attempt the due deliveries of one tenant."""
        claimed = self._claim(tenant_id, limit)
        if claimed and self._styles is not None:
            bodies = self._styles.render(tenant_id, [(c.style, c.payload) for c in claimed])
            claimed = [
                dataclasses.replace(c, payload=body)
                for c, body in zip(claimed, bodies, strict=True)
            ]
        claimed = [
            dataclasses.replace(c, payload=masked_body(c.payload)) if c.masked else c
            for c in claimed
        ]
        for item in claimed:
            attempt = self._attempt(item)
            self._settle(tenant_id, item, attempt)
        return len(claimed)

    def _claim(self, tenant_id: str, limit: int) -> list[_Claimed]:
        now = self._clock.now()
        with transaction(self._storage.tenant(tenant_id)) as session:
            statement = (
                select(WebhookDelivery, WebhookEndpoint)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    WebhookEndpoint.status == EndpointStatus.ACTIVE,
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
            )
            if self._storage.is_postgres:
                statement = statement.with_for_update(skip_locked=True, of=WebhookDelivery)
            claimed = []
            for delivery, endpoint in session.execute(statement):
                # The lease: another deliverer skips it until this one is done.
                delivery.next_attempt_at = now + LEASE
                claimed.append(
                    _Claimed(
                        delivery.id,
                        endpoint.id,
                        delivery.event_id,
                        endpoint.url,
                        endpoint.secret,
                        delivery.payload,
                        endpoint.format,
                        endpoint.masked,
                    )
                )
            return claimed

    def _attempt(self, item: _Claimed) -> Attempt:
        try:
            target = check_url(item.url, self._resolve, self._allowed)
        except InvalidInputError as exc:
            return Attempt(ok=False, status_code=None, error=f"refused: {exc.reason}")
        return post_signed(
            target,
            body=item.payload.encode(),
            secret=item.secret,
            event_id=item.event_id,
            now=int(self._clock.now().timestamp()),
            timeout=self._settings.webhook_timeout_seconds,
        )

    def _settle(self, tenant_id: str, item: _Claimed, attempt: Attempt) -> None:
        now = self._clock.now()
        window = dt.timedelta(hours=self._settings.webhook_retry_hours)
        with transaction(self._storage.tenant(tenant_id)) as session:
            delivery = session.get(WebhookDelivery, item.delivery_id)
            endpoint = session.get(WebhookEndpoint, item.endpoint_id)
            if delivery is None or endpoint is None:
                return
            delivery.attempts += 1
            delivery.last_status_code = attempt.status_code
            delivery.last_error = attempt.error[:500]
            if attempt.ok:
                delivery.status = DeliveryStatus.DELIVERED
                delivery.delivered_at = now
                endpoint.failing_since = None
                return
            if now - delivery.created_at >= window:
                delivery.status = DeliveryStatus.FAILED
            else:
                delivery.next_attempt_at = now + dt.timedelta(
                    seconds=backoff_seconds(delivery.attempts, self._draw)
                )
            endpoint.failing_since = endpoint.failing_since or now
            if now - endpoint.failing_since >= window and endpoint.status is EndpointStatus.ACTIVE:
                endpoint.status = EndpointStatus.DISABLED
                endpoint.disabled_reason = (
                    f"disabled at {now.isoformat(timespec='seconds')}: every delivery failed "
                    f"since {endpoint.failing_since.isoformat(timespec='seconds')} "
                    f"(last: {attempt.status_code or attempt.error})"
                )
                log.warning("webhook endpoint disabled after failing for the retry window")


async def run_webhooks(deliverer: WebhookDeliverer, stop: asyncio.Event, poll_s: float) -> None:
    """Deliver the outbox until `stop`."""
    while not stop.is_set():
        try:
            done = await asyncio.to_thread(deliverer.run_once)
        except Exception:
            log.exception("webhook delivery step failed; retrying")
            done = 0
        if done == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)
