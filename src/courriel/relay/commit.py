"""Group commit for the relay: many connections' messages in one spool transaction.

Each connection waits for the commit that holds its own message before it
answers 250 (durable acceptance), but connections do not take turns: while
one transaction runs, the messages that arrive meanwhile gather for the
next. One fsync then serves every connection that was waiting, which is
what lets ten clients be answered far faster than ten fsyncs apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

# A transaction holds at most this many submissions, so one huge burst does
# not make the first message in it wait for the last.
MAX_BATCH = 256


class GroupCommit(Generic[T]):
    """Runs `commit(batch)` in a thread for whatever submissions are waiting."""

    def __init__(self, commit: Callable[[Sequence[T]], None]) -> None:
        self._commit = commit
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Return once `item` is committed; raise what the commit raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        await future

    async def _run(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                await asyncio.to_thread(self._commit, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiter gets the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
