"""Idempotency keys: a retried request gets the first answer, and sends nothing again.

The first request with a key stores the key with its body's fingerprint
before doing anything, and its answer once done. A retry with the same key
and body gets that answer back; one arriving while the first is still being
handled is told so (409) rather than sending twice; the same key with
another body is a mistake the caller hears about (422). Keys are kept per
tenant, in the tenant's database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import ConflictError, InvalidInputError
from courriel.core.principal import Principal
from courriel.core.storage import Storage
from courriel.messages.models import SendRequest

MAX_KEY = 255
# How long an answer is kept for retries.
KEEP = dt.timedelta(hours=24)


@dataclass(frozen=True)
class StoredAnswer:
    """The answer given to the first request with a key."""

    status_code: int
    body: dict[str, Any]


class IdempotencyKeys:
    """Begin and finish requests made with an ``Idempotency-Key``."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    def begin(self, principal: Principal, key: str, body: bytes) -> StoredAnswer | None:
        """Claim `key` for this request (None), or the answer a first request got."""
        if not key or len(key) > MAX_KEY or not key.isprintable():
            raise InvalidInputError("Idempotency-Key", f"1 to {MAX_KEY} printable characters")
        fingerprint = hashlib.sha256(body).hexdigest()
        now = self._clock.now()
        sessions = self._storage.tenant(principal.tenant_id)
        try:
            with transaction(sessions) as session:
                session.execute(delete(SendRequest).where(SendRequest.created_at < now - KEEP))
                session.add(SendRequest(key=key, fingerprint=fingerprint, created_at=now))
        except IntegrityError:
            pass
        else:
            return None
        with sessions() as session:
            found = session.get(SendRequest, key)
        if found is None:
            # Expired between the two statements: the caller may simply retry.
            raise ConflictError("this Idempotency-Key was just released; retry the request")
        if found.fingerprint != fingerprint:
            raise InvalidInputError(
                "Idempotency-Key", "already used for a request with another body"
            )
        if found.status_code is None or found.response is None:
            raise ConflictError("a request with this Idempotency-Key is still being handled")
        return StoredAnswer(found.status_code, found.response)

    def finish(self, principal: Principal, key: str, answer: StoredAnswer) -> None:
        """Store the answer for the retries to come."""
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            row = session.get(SendRequest, key)
            if row is not None:
                row.status_code = answer.status_code
                row.response = answer.body

    def abandon(self, principal: Principal, key: str) -> None:
        """The request failed before answering: free the key so a retry can run."""
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            session.execute(delete(SendRequest).where(SendRequest.key == key))
