"""`serve --tls-cert/--tls-key`: Courriel answers HTTPS itself, without a proxy."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest

from courriel.config import Settings
from courriel.engine.runtime import run_http
from courriel.sandbox.certificate import self_signed_context
from courriel.services import Services
from tests.support.http import free_port


def test_the_api_answers_over_https_with_the_configured_certificate(tmp_path: Path) -> None:
    self_signed_context(tmp_path / "tls", ["localhost"])
    port = free_port()
    settings = Settings(
        data_dir=tmp_path / "data",
        http_port=port,
        tls_cert_file=tmp_path / "tls" / "tls-cert.pem",
        tls_key_file=tmp_path / "tls" / "tls-key.pem",
    )
    services = Services.build(settings)
    services.tenants.migrate_shared()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(run_http(services, stop),), daemon=True
    )
    thread.start()
    trust = ssl.create_default_context(cafile=str(tmp_path / "tls" / "tls-cert.pem"))
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = httpx.get(f"https://localhost:{port}/healthz", verify=trust, timeout=5)
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert answer.json() == {"status": "ok"}
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"http://localhost:{port}/healthz", timeout=5)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        services.close()


def test_a_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="give both or neither"):
        Settings(data_dir=tmp_path, tls_cert_file=tmp_path / "cert.pem")
