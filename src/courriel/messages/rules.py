"""The rules every transactional message obeys, however it was submitted.

The Send API (`service.TransactionalService`) and the SMTP relay
(`relayed.RelayedMail`) both ask here, so a message is held or refused for
the same reasons whichever way it came in:

- `holds`: per recipient, whether it must not be sent and why. A hard
  bounce, a complaint, an erasure, a manual suppression or restricted
  processing (GDPR Art. 18) stop it; a marketing unsubscribe does not (an
  order confirmation is not marketing). Two queries for a whole batch.
- `SendingCheck`: the sending policy. A suspended tenant sends nothing; a
  limited one at most its hourly cap of transactional messages.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from courriel.audience.models import Contact, Suppression, SuppressionReason
from courriel.campaigns.ports import Allowance
from courriel.core.clock import Clock
from courriel.core.errors import ConflictError
from courriel.core.principal import Principal
from courriel.core.storage import Storage
from courriel.messages.models import TransactionalMessage
from courriel.policy.enforcement import PolicyAllowance
from courriel.policy.service import PolicyService

# Suppressions that concern marketing only: transactional mail still goes.
MARKETING_ONLY = frozenset({SuppressionReason.UNSUBSCRIBE})
RESTRICTED = "processing of this contact is restricted (GDPR Art. 18)"


@dataclass(frozen=True)
class Holds:
    """Why each held address must not receive the message (absent: it may), and the
    tenant's contacts among the addresses, by address."""

    reasons: dict[str, str]
    contacts: dict[str, Contact]


def holds(session: Session, digest: Callable[[str], str], addresses: Iterable[str]) -> Holds:
    """The holds on normalized `addresses` in a tenant's database (`digest`: its address hash)."""
    wanted = list(dict.fromkeys(addresses))
    by_hash = {digest(address): address for address in wanted}
    reasons: dict[str, str] = {}
    for address_hash, reason in session.execute(
        select(Suppression.address_hash, Suppression.reason).where(
            Suppression.address_hash.in_(list(by_hash))
        )
    ):
        if reason not in MARKETING_ONLY:
            reasons[by_hash[address_hash]] = f"suppressed ({reason.value})"
    contacts = {
        c.email: c for c in session.scalars(select(Contact).where(Contact.email.in_(wanted)))
    }
    for address, contact in contacts.items():
        if contact.restricted:
            reasons.setdefault(address, RESTRICTED)
    return Holds(reasons, contacts)


@dataclass(frozen=True)
class PolicyRefusal:
    """Why the sending policy refuses: `later` when only the hourly cap is reached."""

    later: bool
    detail: str


class SendingCheck:
    """A suspended tenant sends nothing; a limited one at most its hourly cap.

    With `cache_seconds`, a tenant's policy state is read at most that often:
    the engine re-evaluates the policy every `policy_evaluate_seconds` (5 s by
    default), so a state read this recently is as fresh as it gets, and the
    relay, which checks every message, saves a control-database query each.
    """

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        policy: PolicyService,
        *,
        cache_seconds: float = 0.0,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._policy = policy
        self._allowance = PolicyAllowance(storage.control)
        self._cache_seconds = cache_seconds
        self._allowances: dict[str, tuple[float, Allowance]] = {}

    def refusal(self, principal: Principal, count: int) -> PolicyRefusal | None:
        """Why `count` more transactional messages of the principal's tenant may not go now."""
        now = self._clock.now()
        allowance = self._current(principal.tenant_id, now)
        if allowance.suspended:
            try:
                # The policy's own words, with the findings behind the suspension.
                self._policy.check_may_send(principal, None)
            except ConflictError as exc:
                return PolicyRefusal(later=False, detail=exc.detail)
            return None  # Lifted since the state was read.
        if allowance.hourly_cap is None:
            return None
        with self._storage.tenant(principal.tenant_id)() as session:
            sent = session.scalar(
                select(func.count())
                .select_from(TransactionalMessage)
                .where(TransactionalMessage.created_at > now - dt.timedelta(hours=1))
            )
        if (sent or 0) + count > allowance.hourly_cap:
            return PolicyRefusal(
                later=True,
                detail="sending is limited by the sending policy to "
                f"{allowance.hourly_cap} messages an hour; try again later",
            )
        return None

    def _current(self, tenant_id: str, now: dt.datetime) -> Allowance:
        if self._cache_seconds <= 0:
            return self._allowance.allowance(tenant_id, now)
        moment = time.monotonic()
        cached = self._allowances.get(tenant_id)
        if cached is not None and moment - cached[0] < self._cache_seconds:
            return cached[1]
        allowance = self._allowance.allowance(tenant_id, now)
        self._allowances[tenant_id] = (moment, allowance)
        return allowance
