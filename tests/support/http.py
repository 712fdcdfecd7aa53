"""Courriel's HTTP application on a real socket, for what a test client cannot show:
a browser, the sandbox's simulated recipients, links that must really resolve."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from courriel.services import Services
from courriel.web.app import create_app

START_S = 60


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def serve_app(services: Services, port: int) -> Iterator[str]:
    """Courriel's HTTP application under uvicorn on 127.0.0.1:`port`; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(services),
            host="127.0.0.1",
            port=port,
            log_level="error",
            proxy_headers=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_S
    while not server.started:
        assert thread.is_alive(), "the HTTP server did not start"
        assert time.monotonic() < deadline, "the HTTP server did not start in time"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(START_S)


@pytest.fixture
def http_port() -> int:
    """The port `live_http` listens on; a module whose messages must link to the live
    server overrides `settings` with `public_url` on it."""
    return free_port()


@pytest.fixture
def live_http(services: Services, http_port: int) -> Iterator[str]:
    """Courriel's HTTP application (API, pages, tracking) on a real socket; its base URL."""
    with serve_app(services, http_port) as url:
        yield url
