"""Where outbound connections come from: IP pools as the delivery engine sees them.

An IP pool is a named set of source addresses, each with the name it gives
in EHLO (which should be the address's reverse DNS name: receivers check
that the EHLO name and the PTR record of the connecting address agree). A
spooled message carries the name of its pool, chosen when it was queued
(`PoolChooser`); the worker binds each connection to one of the pool's
addresses (`SourceDirectory`) and greets with that address's name.

A receiving provider judges every sending address on its own (reputation,
rate limits), so a lane's throttle state is kept per (source address, MX
host set): `throttle_key`. The lane itself (the MX host set) is what
statistics and events name, whichever address carried the message.

The pools live in the control database; `courriel.operations.pools`
implements both ports and `courriel.services` wires them in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SourceAddress:
    """One sending address of a pool and the name it gives in EHLO/HELO."""

    address: str
    helo_name: str


class PoolChooser(Protocol):
    """Decides which pool a message leaves from, when it is queued."""

    def choose(self, tenant_id: str, campaign_id: str | None, mail_class: str) -> str | None:
        """The pool of a message of ``tenant_id`` (None: the installation's own address).

        The most specific assignment wins: the campaign's, then the tenant's
        for the mail class (``marketing`` or ``transactional``), then the
        tenant's, then the default pool. Called for every batch queued, so
        an implementation caches what it reads.
        """
        ...


class SourceDirectory(Protocol):
    """The source addresses of each pool, for the delivery worker."""

    def addresses(self, pool: str) -> Sequence[SourceAddress]:
        """The addresses of ``pool`` in a stable order; empty when it has none (or is gone).

        A message whose pool has no address leaves from the installation's
        own address and EHLO name (setting ``helo_name``), as without pools.
        """
        ...


def pick(addresses: Sequence[SourceAddress], spool_id: int) -> SourceAddress | None:
    """The address one message leaves from: the same one at every retry.

    Spreading by spool id shares a pool's mail evenly over its addresses,
    and a retry goes out from the address the receiver already saw (a
    greylisting server keys its memory on the client address).
    """
    if not addresses:
        return None
    return addresses[spool_id % len(addresses)]


def throttle_key(lane: str, source: SourceAddress | None) -> str:
    """The key of a lane's shared throttle state for mail from ``source``."""
    return lane if source is None else f"{lane}|{source.address}"
