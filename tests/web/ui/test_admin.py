"""The account's plumbing in the browser: sender domains and their DNS records,
suppressions, webhooks and their delivery log, API keys; bad input kept and
explained; a role without webhooks:manage neither sees nor opens webhooks."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import expect

from courriel.config import Settings
from courriel.core.db import transaction
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.events.webhooks.signer import SIGNATURE_HEADER, verify_signature
from courriel.services import Services
from tests.support.dns import DnsThread, make_zone
from tests.support.journey import Journey
from tests.support.tenants import TenantAccess
from tests.web.ui.conftest import Member, member

DOMAIN = "shop.example"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The webhook receiver of these journeys listens on loopback: allowed explicitly,
    as an installation allows a receiver on its own network."""
    return settings.model_copy(update={"webhook_allowed_networks": ["127.0.0.1/32"]})


class Receiver:
    """A real HTTP server that records what it gets and answers as scripted."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.replies: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(receiver.replies.pop(0) if receiver.replies else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/courriel"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def dns(services: Services) -> Iterator[DnsThread]:
    """The sandbox's DNS: an authoritative server the domain checks ask."""
    with DnsThread(make_zone("example.", {})) as server:
        services.settings.dns_nameservers = [f"127.0.0.1:{server.port}"]
        yield server


def _nav(journey: Journey) -> list[str]:
    links: list[str] = journey.page.locator("nav.side a").evaluate_all(
        "(as) => as.map(a => a.getAttribute('href'))"
    )
    return links


def test_a_domain_is_added_its_records_published_and_it_turns_verified(
    journey: Journey, admin: Member, dns: DnsThread
) -> None:
    page = journey.page
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto("/app/domains")
    journey.snap("domains-empty")

    # A name that is not a domain: refused next to the field, the input kept.
    page.fill("#f-domain", "shop..example")
    with journey.expecting(422):
        page.click("text=Add the domain")
    journey.check()
    expect(page.locator("#f-domain-note")).to_contain_text("must be a domain name")
    assert page.input_value("#f-domain") == "shop..example"
    journey.snap("domains-invalid")

    page.fill("#f-domain", DOMAIN)
    page.click("text=Add the domain")
    page.wait_for_url(f"**/app/domains/{DOMAIN}")
    journey.check()
    rows = page.locator("table.records tbody tr")
    purposes = rows.evaluate_all("(rs) => rs.map(r => r.dataset.purpose)")
    assert purposes == ["ownership", "spf", "dkim", "dkim", "dmarc"]
    expect(page.locator("#domain-status .summary .badge")).to_have_text("not ready")
    journey.snap("domain-records")

    # Checked before anything is published: every check fails, with its reason,
    # in place (htmx), the page not reloaded.
    page.evaluate("window.__same_page = true")
    page.click("text=Check now")
    ownership = page.locator("#domain-status [data-check=ownership]")
    expect(ownership).to_contain_text("token not found at _courriel")
    expect(page.locator("#domain-status [data-check=dmarc]")).to_contain_text("no DMARC record")
    assert page.evaluate("window.__same_page === true")
    journey.snap("domain-failed")

    # Published exactly as the page shows them, then checked again: verified.
    records: list[list[str]] = rows.evaluate_all(
        "(rs) => rs.map(r => [r.querySelector('td:nth-child(3) code').textContent,"
        " r.querySelector('code.value').textContent])"
    )
    txt: dict[str, list[str]] = {}
    for name, value in records:
        txt.setdefault(name + ".", []).append(value)
    assert dns.server is not None
    dns.server.zone = make_zone("example.", txt)
    # Nothing clicked: the open page polls and looks the records up again by itself.
    badge = page.locator("#domain-status .summary .badge")
    expect(badge).to_have_text("verified", timeout=30_000)
    for check in ("ownership", "spf", "dkim", "dmarc"):
        expect(page.locator(f"#domain-status [data-check={check}]")).to_contain_text("passed")
    journey.snap("domain-verified")
    journey.goto("/app/domains")
    listed = page.locator("table tbody tr", has_text=DOMAIN)
    expect(listed.locator(".badge")).to_have_text("verified")
    journey.snap("domains")


def test_an_address_is_suppressed_found_and_lifted_with_a_reason(
    journey: Journey, admin: Member, services: Services, tenant_a: TenantAccess
) -> None:
    page = journey.page
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto("/app/suppressions")
    journey.snap("suppressions-empty")

    page.fill("#f-address", "not-an-address")
    page.fill("#f-detail", "asked by phone")
    with journey.expecting(422):
        page.click("button:text-is('Suppress')")
    journey.check()
    expect(page.locator("#f-address-note")).to_be_visible()
    assert page.input_value("#f-address") == "not-an-address"
    assert page.input_value("#f-detail") == "asked by phone"
    journey.snap("suppressions-invalid")

    page.fill("#f-address", "Gone@Example.com")
    page.click("button:text-is('Suppress')")
    page.wait_for_url("**/app/suppressions?done=added")
    journey.check()
    expect(page.locator("table tbody")).to_contain_text("Gone@example.com")
    expect(page.locator("table tbody")).to_contain_text("asked by phone")
    journey.snap("suppressions")

    # Found by any spelling of the address.
    page.fill("#f-q", "gone@example.com")
    page.click("button:text-is('Search')")
    page.wait_for_url("**/app/suppressions?q=*")
    journey.check()
    expect(page.locator("table tbody tr")).to_have_count(1)
    journey.snap("suppressions-found")

    row = page.locator("table tbody tr", has_text="Gone@example.com")
    row.locator("input[name=note]").fill("wrote to us: wants the newsletter again")
    row.locator("button:text-is('Lift')").click()
    page.wait_for_url("**/app/suppressions?done=lifted")
    journey.check()
    expect(page.locator("p.notice")).to_contain_text("lifted")
    expect(page.locator("text=No suppressed address.")).to_be_visible()
    journey.snap("suppressions-lifted")
    assert not services.audience.suppressions.is_suppressed(tenant_a.operator, "gone@example.com")


def test_a_masked_viewer_sees_suppressed_addresses_masked(
    journey: Journey, services: Services, tenant_a: TenantAccess
) -> None:
    services.audience.suppressions.add(tenant_a.operator, "anna@gmail.com")
    for n in range(54):
        services.audience.suppressions.add(tenant_a.operator, f"reader{n}@example.org")
    analyst = member(services, tenant_a, "analyst@example.test", "analyst")
    journey.sign_in(analyst.email, analyst.password)
    journey.goto("/app/suppressions")
    body = journey.page.locator("table tbody")
    expect(body).to_contain_text("a***@g***.com")
    assert "anna@gmail.com" not in journey.page.content()
    assert "reader1@example.org" not in journey.page.content()
    journey.snap("suppressions-masked")
    # A page at a time, by key: 50 rows, then the next five.
    expect(body.locator("tr")).to_have_count(50)
    journey.page.click("a[rel=next]")
    journey.page.wait_for_url("**/app/suppressions?cursor=*")
    journey.check()
    expect(journey.page.locator("table tbody tr")).to_have_count(5)
    assert journey.page.locator("a[rel=next]").count() == 0
    # The analyst reads; adding and lifting are not offered.
    assert journey.page.locator("#f-address").count() == 0
    assert journey.page.locator("button:text-is('Lift')").count() == 0
    journey.snap("suppressions-masked-next")


def _event(services: Services, tenant: TenantAccess, kind: EventType) -> str:
    """An event as the delivery engine records one."""
    with transaction(services.storage.tenant(tenant.tenant.id)) as session:
        stored = record_events(
            session,
            [NewEvent(type=kind, occurred_at=services.clock.now(), message_id="msg_x")],
        )
    return stored[0].id


def test_a_webhook_is_created_its_secret_shown_once_and_its_deliveries_logged(
    journey: Journey,
    admin: Member,
    services: Services,
    tenant_a: TenantAccess,
    receiver: Receiver,
) -> None:
    page = journey.page
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto("/app/webhooks")
    journey.snap("webhooks-empty")

    # The cloud metadata address: refused by the SSRF guard, the form kept.
    page.fill("#f-url", "http://169.254.169.254/latest/meta-data")
    page.fill("#f-description", "orders")
    page.uncheck("input[name=events][value='*']")
    page.check("input[name=events][value=delivered]")
    with journey.expecting(422):
        page.click("text=Add the endpoint")
    journey.check()
    expect(page.locator("#f-url-note")).to_be_visible()
    assert page.input_value("#f-url") == "http://169.254.169.254/latest/meta-data"
    assert page.input_value("#f-description") == "orders"
    assert page.is_checked("input[name=events][value=delivered]")
    journey.snap("webhooks-refused")

    page.fill("#f-url", receiver.url)
    page.check("input[name=events][value=bounced]")
    page.click("text=Add the endpoint")
    page.wait_for_url("**/app/webhooks")
    journey.check()
    secret = page.input_value("#secret")
    assert secret
    journey.snap("webhook-created")

    page.click("text=Go to the endpoint and its delivery log")
    page.wait_for_url("**/app/webhooks/whk*")
    journey.check()
    assert secret not in page.content()  # shown once, never again
    endpoint_url = page.url
    expect(page.locator("text=Nothing sent to this endpoint yet.")).to_be_visible()

    # Two events the endpoint wants; the receiver refuses the first attempt it gets.
    receiver.replies = [500]
    _event(services, tenant_a, EventType.DELIVERED)
    _event(services, tenant_a, EventType.BOUNCED)
    _event(services, tenant_a, EventType.OPENED)  # not subscribed
    assert services.webhook_deliverer().run_once() == 2
    journey.goto(endpoint_url.removeprefix(journey.base))
    log = page.locator("table.deliveries tbody tr")
    expect(log).to_have_count(2)
    expect(page.locator("tr[data-status=delivered]")).to_contain_text("200")
    retried = page.locator("tr[data-status=pending]")
    expect(retried).to_contain_text("500")
    expect(retried.locator("td").nth(4)).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d"))
    journey.snap("webhook-deliveries")
    # The secret the page showed is the one requests are signed with.
    headers, body = receiver.requests[-1]
    assert verify_signature(secret, headers[SIGNATURE_HEADER], body, int(time.time()))
    assert json.loads(body)["type"] in {"delivered", "bounced"}

    page.click("text=Disable")
    page.wait_for_url("**?done=disabled")
    journey.check()
    expect(page.locator("dd").first).to_contain_text("disabled")
    journey.snap("webhook-disabled")
    page.click("text=Delete the endpoint")
    page.wait_for_url("**/app/webhooks?done=deleted")
    journey.check()
    expect(page.locator("text=No endpoint yet.")).to_be_visible()


def test_an_api_key_works_once_created_and_is_refused_once_revoked(
    journey: Journey, admin: Member, services: Services, tenant_a: TenantAccess
) -> None:
    news = services.audience.create_list(tenant_a.operator, "News")
    services.audience.create_list(tenant_a.operator, "Partners")
    page = journey.page
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto("/app/keys")
    journey.snap("keys-empty")

    # No capability ticked: refused, the name kept.
    page.fill("#f-name", "shop orders")
    for box in page.locator("input[name=capabilities]").all():
        box.uncheck()
    with journey.expecting(422):
        page.click("text=Create the key")
    journey.check()
    expect(page.locator("#f-capabilities-note")).to_be_visible()
    assert page.input_value("#f-name") == "shop orders"
    journey.snap("keys-invalid")

    page.check("input[name=capabilities][value='lists:read']")
    # Limited to one list: the key sees that one only.
    page.check("input[name=limit_lists]")
    page.check(f"input[name=lists][value={news.id}]")
    page.click("text=Create the key")
    journey.check()
    secret = page.input_value("#secret")
    assert secret.startswith("ck_")
    journey.snap("key-created")

    v1 = journey.base + "/v1"
    bearer = {"Authorization": f"Bearer {secret}"}
    lists = httpx.get(f"{v1}/lists", headers=bearer)
    assert lists.status_code == 200
    assert [row["name"] for row in lists.json()["data"]] == ["News"]
    # Only what was ticked: no webhooks for this key.
    assert httpx.get(f"{v1}/webhooks", headers=bearer).status_code == 403

    journey.goto("/app/keys")
    assert secret not in page.content()
    row = page.locator("table tbody tr", has_text="shop orders")
    expect(row).to_contain_text(secret[:10])
    expect(row).to_contain_text("lists:read")
    expect(row.locator("td").nth(3)).to_have_text("News")
    journey.snap("keys")
    row.locator("button:text-is('Revoke')").click()
    page.wait_for_url("**/app/keys?done=revoked")
    journey.check()
    expect(page.locator("table tbody tr", has_text="shop orders")).to_contain_text("revoked")
    journey.snap("keys-revoked")
    assert httpx.get(f"{v1}/lists", headers=bearer).status_code == 401


def test_a_marketer_without_webhooks_manage_neither_sees_nor_opens_webhooks(
    journey: Journey, services: Services, tenant_a: TenantAccess
) -> None:
    marketer = member(services, tenant_a, "marketer@example.test", "marketer")
    journey.sign_in(marketer.email, marketer.password)
    journey.check()
    links = _nav(journey)
    assert "/app/webhooks" not in links
    assert "/app/suppressions" in links
    assert "/app/keys" in links
    with journey.expecting(403):
        journey.page.goto(journey.base + "/app/webhooks")
    journey.check()
    assert journey.page.locator("h1").inner_text() == "Not allowed"
    journey.snap("webhooks-forbidden")
