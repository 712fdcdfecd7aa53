"""The sending policy, evaluated continuously from each tenant's events.

States: ok → warning → limited (an hourly cap for `policy_limited_days`) →
suspended (nothing is sent until an operator lifts it, with a recorded
reason). Automatic evaluation only ever tightens, except that a warning
clears and a limit ends once its time is up and the figures are back under
the thresholds. Each change is stored with its explanation (figures, rules,
campaigns, lists, imports), announced as a `policy-changed` event (so
webhooks carry it) and e-mailed to the tenant as a transactional message.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from courriel.config import Settings
from courriel.content.mailer import Mailer
from courriel.core.addresses import normalize_address
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import ConflictError, InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.models import Tenant
from courriel.core.principal import Capability, Principal
from courriel.core.states import Transitions
from courriel.core.storage import Storage
from courriel.events.models import Event, EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.policy.explain import explanation, figures
from courriel.policy.models import PolicyChange, PolicyState, TenantPolicy
from courriel.policy.notice import policy_notice
from courriel.policy.thresholds import measure, verdict

log = logging.getLogger(__name__)

_RANK = {
    PolicyState.OK: 0,
    PolicyState.WARNING: 1,
    PolicyState.LIMITED: 2,
    PolicyState.SUSPENDED: 3,
}
# Who may move the state where: evaluation tightens; an operator lifts.
TRANSITIONS = Transitions(
    "policy state",
    {
        PolicyState.OK: {PolicyState.WARNING, PolicyState.LIMITED, PolicyState.SUSPENDED},
        PolicyState.WARNING: {PolicyState.OK, PolicyState.LIMITED, PolicyState.SUSPENDED},
        PolicyState.LIMITED: {PolicyState.OK, PolicyState.WARNING, PolicyState.SUSPENDED},
        PolicyState.SUSPENDED: {PolicyState.OK, PolicyState.LIMITED},
    },
)
EVALUATION = "evaluation"


@dataclass(frozen=True)
class PolicyStatus:
    """A tenant's state and the figures it is judged on now."""

    state: PolicyState
    since: dt.datetime | None
    hourly_cap: int | None
    limited_until: dt.datetime | None
    notify_email: str
    explanation: dict[str, Any]
    current: dict[str, Any]


class PolicyService:
    """Evaluates and enforces the sending policy of every tenant."""

    def __init__(self, storage: Storage, settings: Settings, clock: Clock, mailer: Mailer) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self._mailer = mailer

    # -- reading -----------------------------------------------------------

    def status(self, principal: Principal) -> PolicyStatus:
        """The principal's tenant's state, its latest explanation and today's figures."""
        principal.require(Capability.STATS_READ)
        now = self._clock.now()
        with self._storage.control() as control:
            row = control.get(TenantPolicy, principal.tenant_id)
        with self._storage.tenant(principal.tenant_id)() as session:
            start = self._window_start(row, now)
            numbers = figures(session, start, max(start, now - dt.timedelta(days=1)))
            findings = measure(numbers, self._settings)
            current = explanation(session, start, now, numbers, findings)
        return PolicyStatus(
            state=row.state if row else PolicyState.OK,
            since=row.since if row else None,
            hourly_cap=row.hourly_cap if row else None,
            limited_until=row.limited_until if row else None,
            notify_email=row.notify_email if row else "",
            explanation=row.explanation if row else {},
            current=current,
        )

    def history(self, principal: Principal) -> list[PolicyChange]:
        """Every change of the tenant's state, newest first."""
        principal.require(Capability.STATS_READ)
        with self._storage.control() as control:
            return list(
                control.scalars(
                    select(PolicyChange)
                    .where(PolicyChange.tenant_id == principal.tenant_id)
                    .order_by(PolicyChange.occurred_at.desc(), PolicyChange.id)
                )
            )

    def set_notify_email(self, principal: Principal, email: str) -> None:
        """Where policy notices go (empty: nowhere)."""
        principal.require(Capability.KEYS_MANAGE)
        address = normalize_address(email, "email") if email else ""
        with transaction(self._storage.control) as control:
            row = self._row(control, principal.tenant_id)
            row.notify_email = address

    def check_may_send(self, principal: Principal, _campaign: object) -> None:
        """A send check: a suspended tenant sends nothing, of either class of mail."""
        with self._storage.control() as control:
            row = control.get(TenantPolicy, principal.tenant_id)
        if row is not None and row.state is PolicyState.SUSPENDED:
            reasons = "; ".join(
                f["text"] for f in row.explanation.get("findings", []) if f.get("ratio", 0) >= 1
            )
            raise ConflictError(
                "sending is suspended by the sending policy"
                + (f": {reasons}" if reasons else "")
                + "; an operator must lift the suspension"
            )

    # -- evaluating --------------------------------------------------------

    def evaluate_changed(self) -> int:
        """Evaluate every tenant with events newer than its last evaluation; return how many."""
        with self._storage.control() as control:
            tenant_ids = list(control.scalars(select(Tenant.id)))
        evaluated = 0
        for tenant_id in tenant_ids:
            try:
                if self._has_new_events(tenant_id):
                    self.evaluate(tenant_id)
                    evaluated += 1
            except NotFoundError:
                continue
        return evaluated

    def _has_new_events(self, tenant_id: str) -> bool:
        with self._storage.control() as control:
            row = control.get(TenantPolicy, tenant_id)
        seen = row.last_event_seq if row else 0
        with self._storage.tenant(tenant_id)() as session:
            newest = session.scalar(select(func.max(Event.seq))) or 0
        return int(newest) > seen

    def evaluate(self, tenant_id: str) -> PolicyState:
        """Judge the tenant's figures now and move its state if they call for it."""
        now = self._clock.now()
        with self._storage.control() as control:
            row = control.get(TenantPolicy, tenant_id)
        with self._storage.tenant(tenant_id)() as session:
            newest = int(session.scalar(select(func.max(Event.seq))) or 0)
            start = self._window_start(row, now)
            numbers = figures(session, start, max(start, now - dt.timedelta(days=1)))
            findings = measure(numbers, self._settings)
            wanted = verdict(findings, self._settings)
            explained = explanation(session, start, now, numbers, findings)
        current = row.state if row else PolicyState.OK
        target = self._target(row, current, wanted, now)
        with transaction(self._storage.control) as control:
            locked = self._row(control, tenant_id)
            locked.last_event_seq = newest
            locked.evaluated_at = now
        if target is current:
            return current
        reasons = [f["text"] for f in explained["findings"] if f["ratio"] >= 1] or [
            "figures are back under the thresholds"
        ]
        self._change(tenant_id, target, EVALUATION, "; ".join(reasons), explained)
        return target

    def _target(
        self,
        row: TenantPolicy | None,
        current: PolicyState,
        wanted: PolicyState,
        now: dt.datetime,
    ) -> PolicyState:
        if current is PolicyState.SUSPENDED:
            return current  # Only an operator lifts a suspension.
        if _RANK[wanted] >= _RANK[current]:
            return wanted
        limit_running = (
            current is PolicyState.LIMITED
            and row is not None
            and row.limited_until is not None
            and row.limited_until > now
        )
        return current if limit_running else wanted

    def lift(
        self, tenant_id: str, reason: str, actor: str, to: PolicyState = PolicyState.OK
    ) -> None:
        """An operator ends a suspension or a limit; the reason is recorded, figures restart."""
        if not reason.strip():
            raise InvalidInputError("reason", "say why the restriction is lifted")
        if to not in (PolicyState.OK, PolicyState.LIMITED):
            raise InvalidInputError("to", "a lift goes to ok or limited")
        with self._storage.control() as control:
            row = control.get(TenantPolicy, tenant_id)
            if control.get(Tenant, tenant_id) is None:
                raise NotFoundError(f"no tenant {tenant_id!r}")
        current = row.state if row else PolicyState.OK
        if current not in (PolicyState.SUSPENDED, PolicyState.LIMITED) or to is current:
            raise ConflictError(f"a tenant in state {current.value} has nothing to lift")
        self._change(
            tenant_id, to, actor, reason.strip(), {"lifted_by": actor, "reason": reason.strip()}
        )

    # -- changing ----------------------------------------------------------

    def _change(
        self,
        tenant_id: str,
        target: PolicyState,
        actor: str,
        reason: str,
        explained: dict[str, Any],
    ) -> None:
        now = self._clock.now()
        with transaction(self._storage.control) as control:
            row = self._row(control, tenant_id)
            current = row.state
            TRANSITIONS.check(current, target)
            change = PolicyChange(
                id=new_id("pol"),
                tenant_id=tenant_id,
                from_state=current,
                to_state=target,
                actor=actor,
                reason=reason,
                explanation=explained,
                occurred_at=now,
            )
            control.add(change)
            row.state = target
            row.since = now
            row.explanation = explained
            if target is PolicyState.LIMITED:
                row.hourly_cap = self._settings.policy_limited_hourly_cap
                row.limited_until = now + dt.timedelta(days=self._settings.policy_limited_days)
            else:
                row.hourly_cap = None
                row.limited_until = None
            if actor != EVALUATION:
                # A lift starts a clean slate: old numbers are not judged again.
                row.counted_from = now
            notify = row.notify_email
        self._announce(tenant_id, change, notify)

    def _announce(self, tenant_id: str, change: PolicyChange, notify: str) -> None:
        detail = {
            "from": change.from_state.value,
            "to": change.to_state.value,
            "reason": change.reason,
            "actor": change.actor,
            "change_id": change.id,
        }
        with transaction(self._storage.tenant(tenant_id)) as session:
            record_events(
                session,
                [
                    NewEvent(
                        type=EventType.POLICY_CHANGED,
                        occurred_at=change.occurred_at,
                        detail=detail,
                        dedupe_key=f"policy:{change.id}",
                    )
                ],
            )
        if notify:
            self._mailer.send(
                [policy_notice(tenant_id, change, notify, self._settings)], change.occurred_at
            )

    # -- helpers -----------------------------------------------------------

    def _window_start(self, row: TenantPolicy | None, now: dt.datetime) -> dt.datetime:
        start = now - dt.timedelta(days=self._settings.policy_window_days)
        if row is not None and row.counted_from is not None:
            start = max(start, row.counted_from)
        return start

    def _row(self, control: Any, tenant_id: str) -> TenantPolicy:
        row: TenantPolicy | None = control.get(TenantPolicy, tenant_id, with_for_update=True)
        if row is None:
            row = TenantPolicy(
                tenant_id=tenant_id,
                state=PolicyState.OK,
                since=self._clock.now(),
                notify_email="",
                explanation={},
                last_event_seq=0,
            )
            control.add(row)
            control.flush()
        return row
