"""A person's journey through the web application in Debian's chromium, watched.

Every page the journey opens is checked as the web-application issue asks:
no console error, no failed request, no request to a host other than the
application (such a request is also blocked, so a test cannot pass by luck),
and axe-core (vendored, run in the page) reports no serious or critical
violation. `snap(name)` also takes a full-page screenshot; with
COURRIEL_SCREENSHOTS set to a folder (docs/screenshots, by `make screenshots`)
it is kept there.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, Response, Route

AXE = Path(__file__).parent / "vendor" / "axe" / "axe.min.js"
BLOCKING = ("serious", "critical")
TIMEOUT_MS = 20_000
# Chromium reports a document answered with an error status as a console error too.
_STATUS_LINE = re.compile(r"the server responded with a status of (\d{3})")


@dataclass
class Journey:
    """A page in its own browser context, and everything wrong seen on the way."""

    page: Page
    base: str
    shots: Path
    problems: list[str] = field(default_factory=list)
    expected: set[int] = field(default_factory=set)
    checked: int = 0

    @classmethod
    def start(cls, context: BrowserContext, base: str, shots: Path) -> Journey:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        journey = cls(page=page, base=base, shots=shots)
        context.route("**/*", journey._only_home)
        page.on("console", journey._console)
        page.on("pageerror", lambda error: journey.problems.append(f"page error: {error}"))
        page.on("requestfailed", journey._failed)
        page.on("response", journey._response)
        return journey

    # -- what is watched ------------------------------------------------------

    def _home(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("data", "blob", "about") or (
            f"{parts.scheme}://{parts.netloc}" == self.base
        )

    def _only_home(self, route: Route) -> None:
        if self._home(route.request.url):
            route.continue_()
        else:
            self.problems.append(f"request to another host: {route.request.url}")
            route.abort()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        status = _STATUS_LINE.search(message.text)
        if status and int(status.group(1)) in self.expected:
            return
        self.problems.append(f"console error: {message.text} at {message.location}")

    def _failed(self, request: Request) -> None:
        # A request the browser dropped because the page moved on is not a failure
        # (an error status is seen by `_response`, a blocked host by `_only_home`).
        if self._home(request.url) and request.failure != "net::ERR_ABORTED":
            failure = request.failure
            self.problems.append(f"request failed: {request.method} {request.url}: {failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400 and response.status not in self.expected:
            method = response.request.method
            self.problems.append(f"HTTP {response.status}: {method} {response.url}")

    @contextlib.contextmanager
    def expecting(self, *statuses: int) -> Iterator[None]:
        """Answers with these statuses are what the test means to provoke (a refused form)."""
        self.expected.update(statuses)
        try:
            yield
        finally:
            self.page.wait_for_load_state()
            self.expected.difference_update(statuses)

    # -- moving and checking ---------------------------------------------------

    def goto(self, path: str) -> None:
        """Open `path` of the application and check the page."""
        self.page.goto(self.base + path)
        self.check()

    def check(self) -> None:
        """Run axe on the page as it is now; serious and critical violations are problems."""
        self.page.wait_for_load_state()
        self.page.evaluate(AXE.read_text(encoding="utf-8") + ";0")
        result: dict[str, Any] = self.page.evaluate(
            "axe.run(document, {resultTypes: ['violations']})"
        )
        self.checked += 1
        for violation in result["violations"]:
            if violation.get("impact") in BLOCKING:
                targets = [node["target"] for node in violation["nodes"][:3]]
                self.problems.append(
                    f"axe {violation['impact']} {violation['id']} on {self.page.url}: "
                    f"{violation['help']} {targets}"
                )

    def snap(self, name: str) -> None:
        """Check the page and keep a full-page screenshot of it as `name`.jpg."""
        self.check()
        # JPEG at 70: a hundred full pages stay a few megabytes in docs/screenshots.
        self.page.screenshot(path=self.shots / f"{name}.jpg", full_page=True, quality=70)

    def sign_in(self, email: str, password: str, totp_secret: str | None = None) -> None:
        """Sign in through the form, with the TOTP code when the user has a second factor."""
        self.goto("/app/sign-in")
        self.page.fill("#email", email)
        self.page.fill("#password", password)
        self.page.click("button[type=submit]")
        if totp_secret is not None:
            self.page.wait_for_url(f"{self.base}/app/sign-in/second-factor")
            self.page.fill("#code", pyotp.TOTP(totp_secret).now())
            self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{self.base}/app")

    def assert_clean(self) -> None:
        """Fail with everything wrong seen on the way."""
        assert self.checked, "the journey never checked a page"
        assert not self.problems, "\n".join(self.problems)


def screenshots_dir(fallback: Path) -> Path:
    """Where screenshots are kept: COURRIEL_SCREENSHOTS, else `fallback` (thrown away)."""
    chosen = os.environ.get("COURRIEL_SCREENSHOTS")
    folder = Path(chosen) if chosen else fallback
    folder.mkdir(parents=True, exist_ok=True)
    return folder
