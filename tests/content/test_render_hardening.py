"""Issue 18 item 1: no template holds the server, for its own tenant or any other."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from courriel.content.jinja_env import DEFAULT_LIMITS
from courriel.content.render import CompiledTemplate, RenderError
from courriel.services import Services
from tests.support.tenants import TenantAccess

SQUARING = (
    "{% set ns = namespace(n=10) %}{% for i in range(24) %}"
    "{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n > 5 }}"
)
# No loop at all: each statement is one long C call on a big value.
UNROLLED = "{% set n = 10 %}" + "{% set n = n * n %}" * 24 + "{{ n > 5 }}"
# Busy for its whole time budget on big strings, every step short.
BUSY = (
    '{% set s = "x" * 900000 %}{% for i in range(20000) %}{% set t = s.upper() %}{% endfor %}done'
)


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        (SQUARING, "number"),
        (UNROLLED, "number"),
        ("{{ 2 ** 64 * 2 ** 64 * 2 ** 64 > 1 }}", ""),
        ("{% set n = 7 ** 60 %}{{ (n * n * n * n * n * n * n * n * n * n) > 1 }}", "number"),
        ("{{ (10 ** 60) ** 60 > 1 }}", "number"),
        ("{% set n = ('9' * 4000) | int %}{{ n * n > 1 }}", "number"),
        ("{% set n = ('9' * 4000) | int %}{{ n - n + n // 3 > 1 }}", "number"),
    ],
)
def test_arithmetic_on_big_numbers_is_refused_at_once(html: str, reason: str) -> None:
    template = CompiledTemplate("Subject", html, None)
    started = time.monotonic()
    if reason:
        with pytest.raises(RenderError, match=reason):
            template.render({})
    else:
        template.render({})
    assert time.monotonic() - started < DEFAULT_LIMITS.max_seconds


def test_ordinary_arithmetic_still_works() -> None:
    html = "{{ 19.99 * 3 }} {{ 2 ** 10 }} {{ 100 - 7 }} {{ 7 // 2 }} {{ 2 ** 62 + 1 }}"
    rendered = CompiledTemplate("S", html, None).render({})
    assert rendered.html == "59.97 1024 93 3 4611686018427387905"


def _preview(
    url: str,
    template_id: str,
    who: TenantAccess,
    previews: list[httpx.Response],
    took: list[float],
) -> None:
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=60) as client:
        previews.append(
            client.post(f"/v1/templates/{template_id}/preview", json={}, headers=who.headers)
        )
    took.append(time.monotonic() - started)


def test_one_tenants_slow_render_never_delays_another_tenants_request(
    services: Services, live_http: str, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    limit = DEFAULT_LIMITS.max_seconds
    templates = []
    with httpx.Client(base_url=live_http, timeout=60) as client:
        for html in (SQUARING, UNROLLED, BUSY):
            created = client.post(
                "/v1/templates",
                json={"name": "Slow", "subject": "Hi", "html": html},
                headers=tenant_a.headers,
            )
            assert created.status_code == 201, created.text
            templates.append(created.json()["id"])
        assert client.get("/v1/lists", headers=tenant_b.headers).status_code == 200
    for template_id in templates:
        previews: list[httpx.Response] = []
        took: list[float] = []
        slow = threading.Thread(
            target=_preview, args=(live_http, template_id, tenant_a, previews, took)
        )
        slow.start()
        waits: list[float] = []
        with httpx.Client(base_url=live_http, timeout=60) as other:
            while slow.is_alive() or not waits:
                started = time.monotonic()
                assert other.get("/v1/lists", headers=tenant_b.headers).status_code == 200
                waits.append(time.monotonic() - started)
        slow.join()
        # The slow render is stopped (a clear 422) within its limit, with some
        # slack for a machine shared with other work …
        assert previews[0].status_code == 422, previews[0].text
        assert previews[0].headers["content-type"] == "application/problem+json"
        assert took[0] < limit + 1.0
        # … and the other tenant never waited as long as the limit.
        assert waits
        assert max(waits) < limit, waits
