"""Running the long-lived parts in one event loop: HTTP, scheduler, delivery, sandbox.

`courriel serve` runs them all; `courriel worker` runs the scheduler and the
delivery engine alone. Each part stops when `stop` is set, and the delivery
worker gives back the messages it holds (graceful shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn

from courriel.api.app import create_app
from courriel.services import Services

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def configure_logging(level: str) -> None:
    """Our records at `level`; libraries that log peers or every step only when they warn."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet = max(logging.WARNING, logging.getLevelNamesMapping()[level])
    for noisy in ("alembic", "mail.log", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(quiet)


def install_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set `stop`."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)


async def run_scheduler(services: Services, stop: asyncio.Event) -> None:
    """Fan out sending campaigns until `stop`."""
    scheduler = services.scheduler()
    while not stop.is_set():
        try:
            ran = await asyncio.to_thread(scheduler.run_once)
        except Exception:
            log.exception("scheduler step failed; retrying")
            ran = 0
        if ran == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), services.settings.worker_poll_seconds)


async def run_engine(services: Services, stop: asyncio.Event) -> None:
    """Scheduler and delivery worker together."""
    await asyncio.gather(run_scheduler(services, stop), services.worker().run(stop))


async def run_http(services: Services, stop: asyncio.Event) -> None:
    """The HTTP server until `stop`."""
    config = uvicorn.Config(
        create_app(services),
        host=services.settings.http_host,
        port=services.settings.http_port,
        log_level="warning",
        access_log=False,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await serving
