"""The demo of `make run`: an admin who signs in with the password shown once (and kept
beside the API key), and a sent campaign whose simulated recipients open and click."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from courriel.accounts.models import SessionStage
from courriel.accounts.sessions import Client
from courriel.cli.demo import seed_demo, send_and_wait
from courriel.cli.main import _announce_demo
from courriel.config import Settings
from courriel.core.principal import Principal
from courriel.sandbox.server import Sandbox
from courriel.services import Services

PATIENCE = dt.timedelta(seconds=60)
DEADLINE_S = 60


@pytest.fixture
def settings(settings: Settings, http_port: int) -> Settings:
    # The tracked links point where the HTTP app (`live_http`) really listens.
    return settings.model_copy(update={"public_url": f"http://127.0.0.1:{http_port}"})


def test_the_demo_admin_signs_in_with_the_password_announced_once(
    services: Services, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = seed_demo(services)
    _announce_demo(settings, seed)
    shown = capsys.readouterr().out
    assert f"{settings.public_url}/app" in shown
    assert seed.admin_email in shown
    assert seed.admin_password in shown
    kept = services.settings.data_dir / "demo-sign-in.txt"
    assert kept.read_text().split() == [seed.admin_email, seed.admin_password]
    assert kept.stat().st_mode & 0o777 == 0o600
    started = services.sign_in.password(seed.admin_email, seed.admin_password, Client("::1"))
    # No password to change first: the demo lands on the dashboard.
    assert started.stage is SessionStage.FULL


def test_the_demo_campaign_is_sent_opened_and_clicked(
    services: Services, sandbox: Sandbox, live_http: str
) -> None:
    seed = seed_demo(services)
    opening = [r for r in seed.recipients if r.startswith("open-")]
    clicking = [r for r in seed.recipients if r.startswith("click-")]
    assert opening
    assert clicking
    # Its own thread: a browser test of the same worker may hold this thread's loop.
    with ThreadPoolExecutor(1) as thread:
        stats = thread.submit(asyncio.run, send_and_wait(services, seed, PATIENCE)).result()
    assert stats.counts["delivered"] == len(seed.recipients)
    operator = Principal.operator(seed.tenant_id)
    deadline = time.monotonic() + DEADLINE_S
    # Each reaction is an HTTP request from the sandbox to the live application.
    while True:
        counts = services.stats.campaign(operator, seed.campaign_id).counts
        if counts.get("opened", 0) >= len(opening) and counts.get("clicked", 0) >= len(clicking):
            break
        assert time.monotonic() < deadline, counts
        time.sleep(0.1)
