"""The metrics each process counts, for `/metrics` (Prometheus text format).

Counters and histograms live in one registry per process; each capability
increments its own at the point where the thing happens. Figures that are
states rather than events (queue depth, throttles, policy states) are read
from the databases when scraped (operations/metrics.py), so every process
reports the same truth however many engines run.

Labels are bounded sets (outcome, provider, route template, status class),
never an address, a tenant or a raw path: personal data stays out, and the
number of series stays small.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

DELIVERIES = Counter(
    "courriel_deliveries",
    "Messages whose fate became final, by outcome and inbox provider.",
    ["outcome", "provider"],
    registry=REGISTRY,
)
DEFERRALS = Counter(
    "courriel_deferrals",
    "Delivery attempts answered with a temporary failure, by inbox provider.",
    ["provider"],
    registry=REGISTRY,
)
DELIVERY_SECONDS = Histogram(
    "courriel_delivery_seconds",
    "Time from a message entering the spool to its final outcome.",
    ["outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400),
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "courriel_http_request_seconds",
    "Time to answer an HTTP request, by method, route template and status class.",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
