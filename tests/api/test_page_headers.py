"""Every public page leaves with the same security headers; only the sign-up form may be framed."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.support.tenants import TenantAccess


def _form_path(client: TestClient, who: TenantAccess) -> str:
    list_id = client.post(
        "/v1/lists", json={"name": "News", "purpose": "Monthly"}, headers=who.headers
    ).json()["id"]
    form = client.post(
        f"/v1/lists/{list_id}/forms",
        json={"title": "Join", "consent_text": "I agree to the monthly letter"},
        headers=who.headers,
    ).json()
    return re.sub(r"^https?://[^/]+", "", form["hosted_url"])


def test_the_sign_up_form_may_be_embedded_but_nothing_else(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    form = client.get(_form_path(client, tenant_a))
    assert form.status_code == 200
    assert "frame-ancestors" not in form.headers["content-security-policy"]
    assert "x-frame-options" not in form.headers
    # The confirmation pages ask before they act (GET changes nothing), the
    # others refuse a forged token: either way an HTML page.
    for path in ("/f/confirm?token=x", "/p/forged", "/r/reconfirm?token=x", "/u/forged"):
        page = client.get(path)
        assert page.status_code in (200, 404), path
        assert page.headers["content-type"].startswith("text/html"), path
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"], path
        assert page.headers["x-frame-options"] == "DENY", path
        assert page.headers["referrer-policy"] == "no-referrer", path
        assert page.headers["cache-control"] == "no-store", path
        # One layout: every page is the same autoescaped document shape.
        assert page.text.startswith("<!doctype html>"), path


def test_the_api_keeps_its_own_headers_and_the_docs_their_policy(client: TestClient) -> None:
    assert "x-frame-options" not in client.get("/healthz").headers
    policy = client.get("/docs").headers["content-security-policy"]
    assert "script-src 'self';" in policy, "no inline or foreign script on the reference"
    assert client.get("/redoc").status_code == 404, "ReDoc loads a CDN and a web font"
