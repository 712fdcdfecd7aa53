"""The application's routes, flattened, for what walks every page (tests, bench/web.py).

FastAPI includes routers lazily: an included router is one entry of
`app.routes` that lists its own routes, with their prefixes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute


def _flat(routes: Iterable[Any]) -> Iterator[tuple[str, frozenset[str]]]:
    for route in routes:
        if hasattr(route, "effective_route_contexts"):
            for context in route.effective_route_contexts():
                yield from _flat([context])
            continue
        original = getattr(route, "original_route", route)
        path = getattr(route, "path", None) or getattr(original, "path", None)
        if isinstance(original, APIRoute) and path:
            yield path, frozenset(original.methods or ())


def get_paths(app: FastAPI, under: str) -> list[str]:
    """Every GET path template of `app` at `under` or below it (e.g. "/app"), once each."""
    found = {path for path, methods in _flat(app.routes) if "GET" in methods}
    return sorted(p for p in found if p == under or p.startswith(under + "/"))
