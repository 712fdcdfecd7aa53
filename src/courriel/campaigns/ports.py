"""What campaigns ask of the layers above them, as contracts.

Campaigns sit below the sending policy: the policy reads campaign figures to
decide, so campaigns may not import it back. The fan-out asks this port
before each batch; `courriel.policy.enforcement` implements it and
`courriel.services` wires the two together.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Allowance:
    """Suspended: nothing goes. Otherwise at most `hourly_cap` an hour (None: no cap)."""

    suspended: bool
    hourly_cap: int | None


class SendingAllowance(Protocol):
    """What the sending policy lets a tenant send now."""

    def allowance(self, tenant_id: str, now: dt.datetime) -> Allowance:
        """The tenant's allowance at `now`.

        A suspended tenant sends nothing (both classes of mail); a limited one
        at most `hourly_cap` messages an hour until its limit ends; any other
        tenant has no cap. Read before each fan-out batch, so a change of
        policy state takes effect within one batch.
        """
        ...
