"""Running the long-lived parts in one event loop: HTTP, scheduler, delivery, sandbox.

`courriel serve` runs them all; `courriel worker` runs the scheduler and the
delivery engine alone (with the return-path SMTP server when its port is set).
Each part stops when `stop` is set, and the delivery worker gives back the
messages it holds (graceful shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import multiprocessing
import multiprocessing.process
import signal
import socket
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import uvicorn
import uvloop

from courriel.config import Settings
from courriel.core.attempts import FailureThrottle
from courriel.engine.metrics import expose_metrics
from courriel.events.webhooks.deliverer import run_webhooks
from courriel.relay.inbound import ReturnPathServer
from courriel.relay.submission import RelayServer
from courriel.relay.tls import relay_tls_context
from courriel.services import Services
from courriel.web.app import create_app
from courriel.web.pages.tracking import TrackingFastPath

log = logging.getLogger(__name__)

T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` in a new uvloop event loop (libuv: a cheaper loop per HTTP request)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class JsonLines(logging.Formatter):
    """One JSON object a record, for log collectors (setting `log_format=json`)."""

    def format(self, record: logging.LogRecord) -> str:
        """See `logging.Formatter.format`."""
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str = "text") -> None:
    """Our records at `level`; libraries that log peers or every step only when they warn."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonLines()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=level, handlers=[handler])
    quiet = max(logging.WARNING, logging.getLevelNamesMapping()[level])
    # httpx logs every URL it fetches: the sandbox's recipients following tracking
    # links (capability tokens) and webhook addresses have no place in the log.
    for noisy in ("alembic", "mail.log", "uvicorn.access", "httpx", "httpcore"):
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


async def run_automation(services: Services, stop: asyncio.Event) -> None:
    """Run workflows' due triggers and steps until `stop` (leases let several engines share)."""
    engine = services.automation()
    while not stop.is_set():
        try:
            handled = await asyncio.to_thread(engine.run_once)
        except Exception:
            log.exception("automation pass failed; retrying")
            handled = 0
        if handled == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), services.settings.automation_poll_seconds)


async def run_engine(services: Services, stop: asyncio.Event) -> None:
    """Scheduler, delivery worker and webhook deliverer together (and `/metrics` if set)."""
    stop_metrics = expose_metrics(services)
    try:
        await _run_engine(services, stop)
    finally:
        if stop_metrics is not None:
            stop_metrics()


async def _run_engine(services: Services, stop: asyncio.Event) -> None:
    await asyncio.gather(
        run_scheduler(services, stop),
        run_automation(services, stop),
        services.worker().run(stop),
        run_webhooks(
            services.webhook_deliverer(), stop, max(1.0, services.settings.worker_poll_seconds)
        ),
        run_inbound(services, stop),
        run_policy(services, stop),
        run_retention(services, stop),
        run_offboarding(services, stop),
        run_relay(services, stop, enabled=services.settings.relay_enabled),
        run_audit_anchor(services, stop),
        run_blocklists(services, stop),
    )


async def run_offboarding(services: Services, stop: asyncio.Event) -> None:
    """Delete the tenants whose grace period is over, periodically until `stop`."""
    while not stop.is_set():
        try:
            for done in await asyncio.to_thread(services.offboarding.run_due):
                log.info("tenant %s deleted; certificate kept", done.tenant_id)
        except Exception:
            log.exception("offboarding run failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), services.settings.retention_interval_seconds)


async def run_retention(services: Services, stop: asyncio.Event) -> None:
    """Run every list's retention and consent-expiry rules periodically until `stop`.

    Safe with several engines: a contact gets one open re-permission request
    per list (a unique key), so racing runs send one email, not two.
    """
    while not stop.is_set():
        try:
            done = await asyncio.to_thread(services.repermissions.run_all)
            if done.sent or done.suppressed or done.removed or done.anonymized:
                log.info(
                    "retention: %d asked again, %d suppressed, %d removed, %d anonymized",
                    done.sent,
                    done.suppressed,
                    done.removed,
                    done.anonymized,
                )
            if done.forgotten or done.reduced:
                log.info(
                    "storage limits: %d unconfirmed sign-ups forgotten, %d people reduced",
                    done.forgotten,
                    done.reduced,
                )
        except Exception:
            log.exception("retention run failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), services.settings.retention_interval_seconds)


async def run_audit_anchor(services: Services, stop: asyncio.Event) -> None:
    """Copy every tenant's audit chain head to the control database periodically.

    A tenant database rewritten after an anchor fails `audit verify`; the
    interval bounds how much of the trail an attacker with write access to
    the tenant database (but not the installation secret) could drop unseen.
    """
    while not stop.is_set():
        try:
            tenants = [t.id for t in services.tenants.list()]
            await asyncio.to_thread(services.audit.anchor_all, tenants)
        except Exception:
            log.exception("audit anchoring failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), services.settings.audit_anchor_seconds)


async def run_blocklists(services: Services, stop: asyncio.Event) -> None:
    """Look the sending IPs and sender domains up in the blocklist zones until `stop`.

    Several engines may run this loop: the watch runs only under the
    `blocklists` lease (policy/periodic.py), so the zones are asked once per
    `blocklist_interval_seconds`, not once per engine.
    """
    settings = services.settings
    if not (settings.blocklist_ip_zones or settings.blocklist_domain_zones):
        return
    owner = services.blocklist_owner()
    # Waking more often than the interval lets another engine's run be
    # taken over soon after its lease ends.
    pause = min(settings.blocklist_interval_seconds, 60.0)
    while not stop.is_set():
        try:
            done = await asyncio.to_thread(services.blocklists.run_due, owner)
            if done is not None and (done.listed or done.cleared):
                log.warning("blocklists: %d new listings, %d cleared", done.listed, done.cleared)
        except Exception:
            log.exception("blocklist watch failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)


async def run_policy(services: Services, stop: asyncio.Event) -> None:
    """Re-evaluate the sending policy of tenants with new events until `stop`."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(services.policy.evaluate_changed)
        except Exception:
            log.exception("policy evaluation failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), services.settings.policy_evaluate_seconds)


async def run_inbound(services: Services, stop: asyncio.Event) -> None:
    """The return-path SMTP server (DSNs, complaint reports) until `stop`; off at port 0."""
    settings = services.settings
    if not settings.inbound_smtp_port:
        return
    processor = services.returns
    server = ReturnPathServer(
        processor,
        settings.inbound_smtp_host,
        settings.inbound_smtp_port,
        services.mailto_unsubscribes,
    )
    host, port = await server.start()
    log.info("return-path SMTP server on %s:%d", host, port)
    try:
        await stop.wait()
    finally:
        await server.stop()


async def run_relay(
    services: Services, stop: asyncio.Event, *, enabled: bool = True, helper: bool = False
) -> None:
    """The SMTP relay (customer submission on 587 and 465) until `stop`.

    With `relay_processes` > 1, helper processes listen on the same ports
    (SO_REUSEPORT) and the kernel spreads the connections over them.
    """
    settings = services.settings
    if not enabled or not (settings.relay_port or settings.relay_tls_port):
        return
    # Made (or loaded) before helpers start, so all of them serve one certificate.
    tls = relay_tls_context(settings)
    helpers: list[multiprocessing.process.BaseProcess] = []
    if not helper and settings.relay_processes > 1:
        spawn = multiprocessing.get_context("spawn")
        helpers = [
            spawn.Process(target=_relay_helper, args=(settings,), daemon=True)
            for _ in range(settings.relay_processes - 1)
        ]
        for process in helpers:
            process.start()
    server = RelayServer(
        services.relayed_mail(),
        FailureThrottle(services.clock),
        settings,
        tls,
    )
    await server.start()
    for name, address in (("STARTTLS", server.starttls_address), ("TLS", server.tls_address)):
        if address is not None:
            log.info("SMTP relay (%s) on %s:%d", name, *address)
    try:
        await stop.wait()
    finally:
        await server.stop()
        for process in helpers:
            process.terminate()  # SIGTERM: it stops listening and closes its sessions
        for process in helpers:
            await asyncio.to_thread(process.join, 30)


def _relay_helper(settings: Settings) -> None:
    # A helper process runs the relay only. Stopped by SIGTERM or SIGINT.
    services = Services.build(settings)

    async def main() -> None:
        stop = asyncio.Event()
        install_signals(stop)
        await run_relay(services, stop, helper=True)

    try:
        run_loop(main())
    finally:
        services.close()


async def run_http(
    services: Services, stop: asyncio.Event, sock: socket.socket | None = None
) -> None:
    """The HTTP server until `stop`; with `http_workers` > 1, helper processes share its port."""
    settings = services.settings
    helpers: list[multiprocessing.process.BaseProcess] = []
    if sock is None and settings.http_workers > 1:
        sock = reuse_port_socket(settings.http_host, settings.http_port)
        spawn = multiprocessing.get_context("spawn")
        helpers = [
            spawn.Process(target=_http_helper, args=(settings,), daemon=True)
            for _ in range(settings.http_workers - 1)
        ]
        for helper in helpers:
            helper.start()
    # Clicks and opens are answered in front of FastAPI's own middleware
    # (errors, telemetry, body limit: about 20 µs a request); the application
    # keeps its copy of the fast path for other servers (tests, embedding).
    app = TrackingFastPath(create_app(services), services.tracker)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        # The C parser (httptools) and uvloop: with the pure-Python h11 parser a
        # click redirect cost three times the CPU. uvicorn's `loop` setting only
        # applies when uvicorn creates the loop; ours comes from `run_loop`.
        http="httptools",
        loop="none",
        log_level="warning",
        # No line per request: click and pixel URLs carry tokens that name a
        # person's message, and logs never hold personal data.
        access_log=False,
        # uvicorn would believe X-Forwarded-For from loopback; only the proxies
        # of the `trusted_proxies` setting may name the client (web/client.py).
        proxy_headers=False,
        ssl_certfile=settings.tls_cert_file,
        ssl_keyfile=settings.tls_key_file,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock] if sock is not None else None))
    await stop.wait()
    server.should_exit = True
    await serving
    for helper in helpers:
        helper.terminate()  # SIGTERM: it finishes its requests and flushes its buffers
    for helper in helpers:
        await asyncio.to_thread(helper.join, 30)


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket several processes can bind: the kernel spreads connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)  # noqa: FBT003 - the socket API
    return sock


def _http_helper(settings: Settings) -> None:
    # A helper process serves HTTP only (API, tracking, pages); the engine
    # runs once, in the main process. Stopped by SIGTERM or SIGINT.
    services = Services.build(settings)

    async def main() -> None:
        stop = asyncio.Event()
        install_signals(stop)
        sock = reuse_port_socket(settings.http_host, settings.http_port)
        await run_http(services, stop, sock)

    try:
        run_loop(main())
    finally:
        services.close()
