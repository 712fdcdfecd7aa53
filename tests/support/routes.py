"""The application's routes, flattened: FastAPI keeps an included router as one
entry (its routes inside, its prefix in the include context)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute


def _walk(routes: Iterable[Any], prefix: str) -> Iterator[tuple[str, frozenset[str]]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, frozenset(route.methods or ())
        elif hasattr(route, "original_router"):
            inner = prefix + route.include_context.prefix
            yield from _walk(route.original_router.routes, inner)


def get_paths(app: FastAPI, under: str) -> list[str]:
    """Every GET path template of `app` under `under` (e.g. "/app"), once each."""
    found = [path for path, methods in _walk(app.routes, "") if "GET" in methods]
    chosen = [p for p in found if p == under or p.startswith(under + "/")]
    return sorted(set(chosen))
