"""What the policy state lets a tenant send now; read by the fan-out before each batch."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from courriel.campaigns.ports import Allowance
from courriel.policy.models import PolicyState, TenantPolicy


class PolicyAllowance:
    """See `courriel.campaigns.ports.SendingAllowance`."""

    def __init__(self, control: sessionmaker[Session]) -> None:
        self._control = control

    def allowance(self, tenant_id: str, now: dt.datetime) -> Allowance:
        """See `SendingAllowance.allowance` (a limit past its end no longer applies)."""
        with self._control() as session:
            row = session.get(TenantPolicy, tenant_id)
        if row is None:
            return Allowance(suspended=False, hourly_cap=None)
        if row.state is PolicyState.SUSPENDED:
            return Allowance(suspended=True, hourly_cap=0)
        if row.state is PolicyState.LIMITED and (
            row.limited_until is None or row.limited_until > now
        ):
            return Allowance(suspended=False, hourly_cap=row.hourly_cap)
        return Allowance(suspended=False, hourly_cap=None)
