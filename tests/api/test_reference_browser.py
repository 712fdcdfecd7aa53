"""The API reference at /docs, in a real browser: drawn from our own files only."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Browser, Request


def test_the_reference_draws_every_operation_without_another_host(
    live_http: str, chromium: Browser
) -> None:
    page = chromium.new_page()
    requested: list[str] = []
    failed: list[str] = []
    console: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: failed.append(_name(request)))
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_http}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    # Swagger UI draws only the operations near the viewport (a virtualized
    # list): scroll through the reference, collecting what it draws.
    seen: set[str] = set()
    for _ in range(200):
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        seen |= {p.replace("\u200b", "").strip() for p in paths}
        if "/v1/lists" in seen:
            break
        page.mouse.wheel(0, 1500)
        page.wait_for_timeout(50)
    assert "/v1/lists" in seen
    own = urlsplit(live_http).netloc
    assert {urlsplit(url).netloc for url in requested if not url.startswith("data:")} == {own}
    assert failed == []
    assert console == []


def _name(request: Request) -> str:
    return f"{request.url} {request.failure}"
