"""Group commit of attempt results: many connections, one spool transaction.

"A recipient's outcome is recorded before the next is tried on that
connection" is what makes a crash cost at most the messages in flight: a
message is tried again after a crash only if its result was not yet
committed. That needs each connection to *wait* for its result's commit,
not a commit per result. So a connection hands its result to the
`SettleBatcher` and waits; while one transaction commits, the results of
every other connection pile up and go in the next one. The guarantee is
intact, and the spool sees one transaction per batch instead of one per
message.
"""

from __future__ import annotations

import asyncio

from courriel.delivery.spool import Settlement, Spool


class SettleBatcher:
    """Commits settlements in batches; each caller returns once its own is durable."""

    def __init__(self, spool: Spool, owner: str) -> None:
        self._spool = spool
        self._owner = owner
        self._pending: list[tuple[Settlement, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def settle(self, settlement: Settlement) -> None:
        """Store ``settlement``; return when it is committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((settlement, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def settle_many(self, settlements: list[Settlement]) -> None:
        """Store several settlements; return when all are committed."""
        await asyncio.gather(*(self.settle(s) for s in settlements))

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._spool.settle, self._owner, [s for s, _ in batch])
            except Exception as exc:  # noqa: BLE001 (handed to every waiter)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
