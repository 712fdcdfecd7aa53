"""Account tests run on a frozen clock behind an https public URL (so the session
cookie is the `__Host-` one, Secure)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.services import Services
from courriel.web.app import create_app
from tests.support.databases import Templates, build_services
from tests.support.people import START


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def services(settings: Settings, templates: Templates, clock: FrozenClock) -> Iterator[Services]:
    https = settings.model_copy(update={"public_url": "https://testserver"})
    built = build_services(https, templates, clock)
    yield built
    built.close()


@pytest.fixture
def browser(services: Services) -> Iterator[TestClient]:
    """A browser-like client: keeps cookies, speaks https to the app."""
    with TestClient(create_app(services), base_url="https://testserver") as client:
        yield client
