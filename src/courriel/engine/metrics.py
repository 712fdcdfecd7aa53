"""The `/metrics` endpoint of an engine process, on its own address.

Each `serve` or `worker` process exposes its own counters (deliveries,
deferrals, latencies, HTTP timings) and the database states every process
sees alike (operations/metrics.py); Prometheus scrapes each process and sums.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import start_http_server

from courriel.core.telemetry import REGISTRY
from courriel.operations.metrics import StateCollector
from courriel.services import Services

log = logging.getLogger(__name__)


def expose_metrics(services: Services) -> Callable[[], None] | None:
    """Serve `/metrics` when `metrics_port` is set; returns how to stop it."""
    settings = services.settings
    if not settings.metrics_port:
        return None
    collector = StateCollector(services.storage, settings, services.clock)
    REGISTRY.register(collector)
    server, thread = start_http_server(
        settings.metrics_port, settings.metrics_host, registry=REGISTRY
    )
    log.info("metrics at http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)
        REGISTRY.unregister(collector)

    return stop
