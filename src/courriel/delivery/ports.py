"""What the delivery engine tells the layers above it, as a contract.

Delivery is a pure MTA: it knows messages, lanes and replies, not contacts,
lists or statistics. What happened to a message goes up through this port;
`courriel.tracking.outcomes` implements it (events, counters, suppressions
in the tenant's database) and `courriel.services` wires it in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from courriel.delivery.spool import ClaimedMessage, FinishedMessage


class OutcomeSink(Protocol):
    """Where the outcomes of delivery attempts are recorded for a tenant."""

    def record_final(self, tenant_id: str, messages: Sequence[FinishedMessage]) -> None:
        """Record the final outcome of each message of one tenant, in one transaction.

        Called after the outcome is durable in the spool and before the spool
        row is removed, so a crash between the two repeats the call: it must
        be idempotent (a message's final outcome is recorded once however
        often it is reported). Raises `NotFoundError` when the tenant no
        longer exists; its messages then simply leave the spool.
        """
        ...

    def record_deferred(
        self,
        message: ClaimedMessage,
        code: int | None,
        reply: str,
        lane: str | None,
        when: dt.datetime,
    ) -> None:
        """Record one temporary failure of `message` (it stays in the spool for a retry).

        `code` and `reply` are the receiving server's answer (None and our own
        reason when no server answered); each attempt is recorded once. An
        unknown tenant is ignored.
        """
        ...
