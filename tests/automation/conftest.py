"""Automation tests: the services on a frozen clock, and helpers to build workflows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.services import Services
from tests.support.databases import Templates, build_services

START = dt.datetime(2026, 5, 11, 8, 0, tzinfo=dt.UTC)  # a Monday


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def services(settings: Settings, templates: Templates, clock: FrozenClock) -> Iterator[Services]:
    """Every service on the test's frozen clock (engines, delivery and the API alike)."""
    built = build_services(settings, templates, clock)
    yield built
    built.close()
