"""The hosted sign-up page in a real browser (Debian's chromium) against a real server."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import sync_playwright

from courriel.api.app import create_app
from courriel.audience.signup_pages import signups
from courriel.services import Services
from support import TenantAccess

SHOT = os.environ.get("COURRIEL_SIGNUP_SCREENSHOT")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture
def server(services: Services) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="error")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(10)


def test_a_person_signs_up_in_a_browser(
    server: str, services: Services, tenant_a: TenantAccess, tmp_path: Path
) -> None:
    lst = services.audience.create_list(tenant_a.operator, "Café news", "Our monthly letter")
    signup = signups(services).create_form(
        tenant_a.operator, lst.id, "Join the café", "I agree to receive the monthly letter"
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page()
        page.goto(f"{server}/f/{tenant_a.tenant.id}/{signup.id}")
        assert not page.is_checked("input[name=consent]")
        page.fill("input[name=email]", "browser@gmail.test")
        page.click("button[type=submit]")
        # The required checkbox stops the submission in the browser itself.
        assert page.url.endswith(signup.id)
        assert "Check your inbox" not in page.content()
        page.check("input[name=consent]")
        page.screenshot(path=str(SHOT or tmp_path / "signup.png"))
        page.click("button[type=submit]")
        page.wait_for_selector("text=Check your inbox")
        browser.close()
    contact = services.audience.list_contacts(tenant_a.operator, None, 10).items[0]
    assert contact.email == "browser@gmail.test"
    ledger = services.audience.consent_history(tenant_a.operator, contact.id)
    assert ledger[0].ip == "127.0.0.1"
    assert "Chrome" in (ledger[0].user_agent or "")
