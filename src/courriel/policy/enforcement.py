"""What the policy state lets a tenant send now; read by the fan-out before each batch."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from courriel.policy.models import PolicyState, TenantPolicy


@dataclass(frozen=True)
class Allowance:
    """Suspended: nothing goes. Otherwise at most `hourly_cap` an hour (None: no cap)."""

    state: PolicyState
    suspended: bool
    hourly_cap: int | None


def allowance(control: sessionmaker[Session], tenant_id: str, now: dt.datetime) -> Allowance:
    """The tenant's allowance from its policy state (a limit past its end no longer applies)."""
    with control() as session:
        row = session.get(TenantPolicy, tenant_id)
    if row is None:
        return Allowance(PolicyState.OK, suspended=False, hourly_cap=None)
    if row.state is PolicyState.SUSPENDED:
        return Allowance(row.state, suspended=True, hourly_cap=0)
    if row.state is PolicyState.LIMITED and (row.limited_until is None or row.limited_until > now):
        return Allowance(row.state, suspended=False, hourly_cap=row.hourly_cap)
    return Allowance(row.state, suspended=False, hourly_cap=None)
