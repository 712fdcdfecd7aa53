"""Campaigns and statistics through the pages: create, check, schedule in a time
zone, send to the sandbox internet and watch progress and figures change as its
simulated recipients open and click; pause, resume, cancel; an A/B test; the
figures as CSV; bad inputs refused on the form with nothing lost."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import expect

from courriel.engine.runtime import run_scheduler
from courriel.services import Services
from courriel.web.ui.i18n import LANGUAGES
from tests.support.journey import Journey
from tests.support.sandbox import Internet
from tests.support.seeds.campaigns import UNSUBSCRIBE, make_campaign, seed_list
from tests.support.tenants import TenantAccess
from tests.web.ui.conftest import Member, member

SALE = "https://shop.test/sale?season=spring"
HTML = (
    "<p>Our spring collection is here, with new colours.</p>"
    f'<p><a href="{SALE}">See the sale</a></p>'
)
# Addresses the sandbox's recipients act on: open, click, or do not exist.
PEOPLE = [
    "open-ann@gmail.test",
    "click-bob@yahoo.test",
    "carol@outlook.test",
    "unknown-dan@gmail.test",
]
WAIT_MS = 60_000


@contextlib.contextmanager
def engine(services: Services) -> Iterator[None]:
    """The scheduler and a delivery worker beside the live server, as `courriel serve` runs them."""
    halt = threading.Event()

    async def main() -> None:
        stop = asyncio.Event()

        async def watch() -> None:
            while not halt.is_set():
                await asyncio.sleep(0.05)
            stop.set()

        await asyncio.gather(watch(), run_scheduler(services, stop), services.worker().run(stop))

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    try:
        yield
    finally:
        halt.set()
        thread.join(30)


def _template(services: Services, tenant: TenantAccess, name: str, html: str) -> str:
    template, _ = services.templates.create(tenant.operator, name, "Spring news", html)
    return template.id


def _create(journey: Journey, name: str, template: str, list_name: str) -> str:
    page = journey.page
    journey.goto("/app/campaigns/new")
    page.fill("#f-name", name)
    page.select_option("#f-template_id", template)
    page.fill("#f-from_email", "news@acme.test")
    page.fill("#f-from_name", "Acme")
    page.get_by_label(list_name).check()
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/app/campaigns/cmp[^/?]*\?created=true$"))
    journey.check()
    return page.url.rsplit("/", 1)[1].split("?")[0]


def _count(journey: Journey, key: str) -> str:
    return journey.page.locator(f'[data-count="{key}"]').inner_text()


def test_create_check_schedule_send_and_watch_the_figures(
    journey: Journey,
    admin: Member,
    services: Services,
    tenant_a: TenantAccess,
    internet: Internet,
    tmp_path: Path,
) -> None:
    seed_list(services, tenant_a, PEOPLE, name="Spring customers")
    template = _template(services, tenant_a, "Spring", HTML + UNSUBSCRIBE)
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    page = journey.page
    journey.goto("/app/campaigns")
    journey.snap("campaigns-empty")

    # No list chosen: the form comes back with the reason and what was typed.
    journey.goto("/app/campaigns/new")
    page.fill("#f-name", "Spring sale")
    page.select_option("#f-template_id", template)
    page.fill("#f-from_email", "news@acme.test")
    with journey.expecting(422):
        page.click("main button[type=submit]")
    assert page.locator("#f-lists-note").inner_text() == "Choose at least one list."
    assert page.input_value("#f-name") == "Spring sale"
    assert page.input_value("#f-from_email") == "news@acme.test"
    journey.snap("campaign-new-refused")

    campaign_id = _create(journey, "Spring sale", template, "Spring customers")
    # The checks come before any send: content, policy and sender domain all pass.
    checks = page.locator("#checks tbody tr")
    assert checks.count() >= 8
    assert page.locator("#checks .badge.error").count() == 0
    assert page.locator("#send").is_enabled()
    journey.snap("campaign-draft-checks")

    # A time already past, then an unknown zone: refused by the fields, input kept.
    page.fill("#f-local", "2020-01-01T10:00")
    page.fill("#f-zone", "Europe/Paris")
    with journey.expecting(422):
        page.click("#schedule button[type=submit]")
    assert "has passed" in page.locator("#f-local-note").inner_text()
    assert page.input_value("#f-zone") == "Europe/Paris"
    journey.snap("campaign-schedule-past")
    year = services.clock.now().year + 1
    page.fill("#f-local", f"{year}-06-15T09:30")
    page.fill("#f-zone", "Mars/Olympus_Mons")
    with journey.expecting(422):
        page.click("#schedule button[type=submit]")
    assert "known time zone" in page.locator("#f-zone-note").inner_text()
    assert page.input_value("#f-local") == f"{year}-06-15T09:30"
    journey.snap("campaign-schedule-unknown-zone")

    # 09:30 in Paris in June (CEST, UTC+2) is stored as 07:30 UTC, shown back in Paris.
    page.fill("#f-zone", "Europe/Paris")
    page.click("#schedule button[type=submit]")
    page.wait_for_url("**?done=schedule")
    journey.check()
    plan = services.campaign_control.plan(tenant_a.operator, campaign_id)
    assert plan.scheduled_at == dt.datetime(year, 6, 15, 7, 30, tzinfo=dt.UTC)
    assert plan.default_timezone == "Europe/Paris"
    shown = page.locator("#scheduled-for").inner_text()
    assert f"{year}-06-15 09:30 CEST" in shown
    assert f"{year}-06-15 07:30 UTC" in shown
    assert page.input_value("#f-local") == f"{year}-06-15T09:30"
    journey.snap("campaign-scheduled")

    # Sent now instead; the engine delivers and progress follows every 2 s.
    with engine(services):
        page.click("#send")
        page.wait_for_url("**?done=send")
        journey.check()
        expect(page.locator('[data-count="delivered"]')).to_have_text("3", timeout=WAIT_MS)
        expect(page.locator('[data-count="bounced"]')).to_have_text("1", timeout=WAIT_MS)
        assert _count(journey, "queued") == "4"
        journey.snap("campaign-progress")

        # The statistics refresh themselves as Ann opens and Bob clicks.
        journey.goto(f"/app/statistics/{campaign_id}")
        before = page.locator("#campaign-days-data").text_content()
        opens = page.locator('#figures [data-figure="unique_opens"]')
        # Bob clicks seconds after delivery: counted as a click, though (as a link
        # scanner's would be) not as a unique human click.
        clicks = page.locator('#figures [data-figure="clicks"]')
        expect(clicks).to_contain_text("1", timeout=WAIT_MS)
        expect(opens).not_to_contain_text("0", timeout=WAIT_MS)
        internet.settle()
    chart = json.loads(page.locator("#campaign-days-data").text_content() or "{}")
    by_label = {s["label"]: s["values"] for s in chart["series"]}
    if before != page.locator("#campaign-days-data").text_content():
        # The chart was drawn again from the new figures (unless Bob had
        # clicked before the page first loaded).
        assert page.locator("#campaign-days svg, #campaign-days canvas").count() >= 1
    assert by_label["Clicks"][-1] >= 1
    assert by_label["Bounced"][-1] == 1
    assert page.locator("figure.chart svg, figure.chart canvas").count() >= 1
    assert SALE in page.locator("#per-link").inner_text()
    assert "google" in page.locator("#per-provider").inner_text()
    journey.snap("campaign-statistics")

    # The CSV has the same figures as the counters.
    with page.expect_download() as download:
        page.click("#csv")
    saved = tmp_path / "figures.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(saved.open(encoding="utf-8")))
    total = next(r for r in rows if r["dimension"] == "campaign")
    stats = services.stats.campaign(tenant_a.operator, campaign_id)
    assert int(total["delivered"]) == stats.figures["delivered"] == 3
    assert int(total["bounced"]) == stats.figures["bounced"] == 1
    assert int(total["clicks"]) == stats.figures["clicks"] >= 1
    assert int(total["unique_clicks"]) == stats.figures["unique_clicks"]
    assert int(total["unique_opens"]) == stats.figures["unique_opens"] >= 1
    link = next(r for r in rows if r["dimension"] == "link")
    assert (link["key"], link["clicks"]) == (SALE, str(stats.figures["clicks"]))
    assert {r["key"] for r in rows if r["dimension"] == "provider"} >= {"google", "yahoo"}

    journey.goto("/app/statistics")
    assert page.locator(f'a[href="/app/statistics/{campaign_id}"]').count() == 1
    journey.snap("statistics-overview")
    journey.goto("/app/campaigns")
    journey.snap("campaigns-list")


def test_pause_resume_and_cancel_a_send(
    journey: Journey, admin: Member, services: Services, tenant_a: TenantAccess
) -> None:
    # More people than the first batch: with no engine running the send stays open.
    seed_list(services, tenant_a, [f"p{i:03d}@example.test" for i in range(150)], name="Many")
    template = _template(services, tenant_a, "Spring", HTML + UNSUBSCRIBE)
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    page = journey.page
    campaign_id = _create(journey, "Big send", template, "Many")
    page.click("#send")
    page.wait_for_url("**?done=send")
    journey.check()
    assert page.locator("#campaign-status").inner_text() == "sending"
    assert _count(journey, "queued") == "100"
    assert page.locator("#progress[hx-trigger]").count() == 1
    journey.snap("campaign-sending")

    page.click("#pause")
    page.wait_for_url("**?done=pause")
    journey.check()
    assert page.locator("#campaign-status").inner_text() == "paused"
    journey.snap("campaign-paused")

    page.click("#resume")
    page.wait_for_url("**?done=resume")
    journey.check()
    assert page.locator("#campaign-status").inner_text() == "sending"
    assert int(_count(journey, "queued")) >= 100

    page.click("#cancel")
    page.wait_for_url("**?done=cancel")
    journey.check()
    assert page.locator("#campaign-status").inner_text() == "cancelled"
    assert page.locator("#pause, #resume, #cancel").count() == 0
    status = services.campaigns.get(tenant_a.operator, campaign_id).status.value
    assert status == "cancelled"
    journey.snap("campaign-cancelled")


def test_a_blocking_check_is_shown_and_send_is_refused(
    journey: Journey, admin: Member, services: Services, tenant_a: TenantAccess
) -> None:
    seed_list(services, tenant_a, ["ann@example.test"], name="Few")
    # A marketing message without an unsubscribe link may not be sent.
    template = _template(services, tenant_a, "No way out", HTML)
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    page = journey.page
    campaign_id = _create(journey, "Forgot the link", template, "Few")
    row = page.locator('#checks tr[data-check="unsubscribe_link"]')
    assert row.locator(".badge.error").count() == 1
    assert page.locator("#send").is_disabled()
    journey.snap("campaign-checks-blocking")
    # Forced anyway (a stale page): refused with the reason, nothing sent.
    with journey.expecting(422):
        page.evaluate("document.getElementById('send').disabled = false")
        page.click("#send")
    assert "unsubscribe" in page.locator(".notice.error").first.inner_text()
    assert services.campaigns.get(tenant_a.operator, campaign_id).status.value == "draft"


def test_ab_test_set_up_started_and_compared(
    journey: Journey, admin: Member, services: Services, tenant_a: TenantAccess
) -> None:
    seed_list(services, tenant_a, [f"q{i:03d}@example.test" for i in range(60)], name="Testers")
    template = _template(services, tenant_a, "Spring", HTML + UNSUBSCRIBE)
    other = _template(services, tenant_a, "Summer", HTML.replace("spring", "summer") + UNSUBSCRIBE)
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    page = journey.page
    campaign_id = _create(journey, "Which subject", template, "Testers")

    # One variant only: refused, the other values kept.
    page.fill("#ab-from-0", "Ann at Acme")
    page.fill("#f-test_share", "40")
    with journey.expecting(422):
        page.click("#ab-create")
    assert "at least two variants" in page.locator("#ab-variants-note").inner_text()
    assert page.input_value("#f-test_share") == "40"
    assert page.input_value("#ab-from-0") == "Ann at Acme"

    page.select_option("#ab-template-1", other)
    page.select_option("#f-metric", "clicks")
    page.fill("#f-wait_minutes", "60")
    journey.snap("campaign-ab-setup")
    page.click("#ab-create")
    page.wait_for_url("**?done=ab")
    journey.check()
    found = services.ab_tests.of_campaign(tenant_a.operator, campaign_id)
    assert found is not None
    test, variants = found
    assert (test.test_share, test.metric.value, test.wait_minutes) == (40, "clicks", 60)
    assert len(variants) == 2

    page.click("#ab-start")
    page.wait_for_url("**?done=ab-start")
    journey.check()
    assert "testing" in page.locator("#ab-title").inner_text()
    journey.snap("campaign-ab-started")

    journey.goto(f"/app/statistics/{campaign_id}")
    rows = page.locator("#variants tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).get_attribute("data-variant") == "A"
    journey.snap("statistics-ab-variants")

    # The same pages speak French to a user who chose it.
    services.users.set_language(admin.user.id, "fr", LANGUAGES)
    journey.goto(f"/app/campaigns/{campaign_id}")
    assert page.locator("#ab-title").inner_text().startswith("Test A/B")
    assert "%" in page.locator("#ab p").first.inner_text()
    journey.snap("campaign-ab-fr")


def test_another_tenants_campaign_is_not_found(
    journey: Journey, admin: Member, services: Services, tenant_b: TenantAccess
) -> None:
    theirs = make_campaign(services, tenant_b, [seed_list(services, tenant_b, ["x@b.test"])])
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    for path in (f"/app/campaigns/{theirs}", f"/app/statistics/{theirs}"):
        with journey.expecting(404):
            journey.page.goto(journey.base + path)
        journey.check()
        assert journey.page.locator("h1").count() == 1
    with journey.expecting(404):
        journey.page.goto(journey.base + f"/app/statistics/{theirs}.csv")


def test_an_analyst_reads_campaigns_and_figures_but_changes_nothing(
    journey: Journey, services: Services, tenant_a: TenantAccess
) -> None:
    campaign_id = make_campaign(services, tenant_a, [seed_list(services, tenant_a, ["a@x.test"])])
    analyst = member(services, tenant_a, "analyst@example.test", "analyst")
    journey.sign_in(analyst.email, analyst.password)
    page = journey.page
    journey.goto("/app/campaigns")
    assert page.locator('a[href="/app/campaigns/new"]').count() == 0
    journey.goto(f"/app/campaigns/{campaign_id}")
    assert page.locator("#checks").count() == 1
    assert page.locator("#send, #schedule, #ab-create").count() == 0
    journey.snap("campaign-read-only")
    journey.goto(f"/app/statistics/{campaign_id}")
    journey.goto("/app/statistics")
    # A send forced by hand is refused by the service's permission check.
    with journey.expecting(403):
        page.evaluate(
            """(id) => { const f = document.createElement('form'); f.method = 'post';
            f.action = '/app/campaigns/' + id + '/send'; const c = document.createElement('input');
            c.type = 'hidden'; c.name = 'csrf';
            c.value = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
            f.appendChild(c); document.body.appendChild(f); f.submit(); }""",
            campaign_id,
        )
        page.wait_for_url(f"**/app/campaigns/{campaign_id}/send")
    assert page.locator("h1").inner_text() == "Not allowed"
    assert services.campaigns.get(tenant_a.operator, campaign_id).status.value == "draft"
