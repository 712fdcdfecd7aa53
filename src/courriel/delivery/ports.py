"""What the delivery engine tells the layers above it, as a contract.

Delivery is a pure MTA: it knows messages, lanes and replies, not contacts,
lists or statistics. What happened to a message goes up through this port;
`courriel.tracking.outcomes` implements it (events, counters, suppressions
in the tenant's database) and `courriel.services` wires it in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from courriel.delivery.spool import ClaimedMessage, FinishedMessage


@dataclass(frozen=True)
class Deferral:
    """One temporary failure of a message, which stays in the spool for a retry.

    `code` and `reply` are the receiving server's answer (None and our own
    reason when no server answered).
    """

    message: ClaimedMessage
    code: int | None
    reply: str
    lane: str | None
    at: dt.datetime


class OutcomeSink(Protocol):
    """Where the outcomes of delivery attempts are recorded for a tenant."""

    def record(
        self,
        tenant_id: str,
        finished: Sequence[FinishedMessage],
        deferred: Sequence[Deferral],
    ) -> None:
        """Record final outcomes and deferrals of one tenant's messages, in one transaction.

        Called after the outcomes are durable in the spool and before the
        finished rows are removed, so a crash between the two repeats the
        call: it must be idempotent (each final outcome and each attempt is
        recorded once however often it is reported). Raises `NotFoundError`
        when the tenant no longer exists; its messages then simply leave the
        spool.
        """
        ...
