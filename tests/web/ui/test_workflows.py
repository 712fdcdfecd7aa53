"""Workflows through the pages: a definition refused with the line of the field at
fault and nothing lost, a workflow made from a shipped template, activated,
and its figures moving once a contact subscribes; pause, a new version, archive."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from playwright.sync_api import expect

from courriel.services import Services
from tests.automation.helpers import add_contact
from tests.support.journey import Journey
from tests.support.sandbox import Internet
from tests.support.seeds.campaigns import seed_list
from tests.support.tenants import TenantAccess
from tests.web.ui.conftest import Member

BROKEN = """from_email: news@acme.test
trigger: {kind: list_subscribed, list_id: LIST}
steps:
  - {key: hello, kind: send, template_id: tpl_missing, next: later}
  - {key: later, kind: wait, days: 2}
"""


def _figure(journey: Journey, step: str, name: str) -> str:
    return journey.page.locator(
        f'#steps tr[data-step="{step}"] td[data-figure="{name}"]'
    ).inner_text()


def test_create_from_a_template_activate_and_watch_a_contact_go_through(
    journey: Journey,
    admin: Member,
    services: Services,
    tenant_a: TenantAccess,
    client: TestClient,
    internet: Internet,
) -> None:
    news = seed_list(services, tenant_a, [], name="Newsletter")
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    page = journey.page
    journey.goto("/app/workflows")
    journey.snap("workflows-empty")

    # A definition naming a template that does not exist: refused at its line,
    # the text kept as typed.
    journey.goto("/app/workflows/new")
    page.fill("#f-name", "Hand-written")
    page.fill("#f-definition", BROKEN.replace("LIST", news))
    with journey.expecting(422):
        page.click("#create")
    error = page.locator("#definition-error")
    expect(error).to_contain_text("steps.hello.template_id")
    expect(error).to_contain_text("no template 'tpl_missing'")
    expect(error).to_contain_text("Line 4")
    assert "tpl_missing" in page.input_value("#f-definition")
    assert page.input_value("#f-name") == "Hand-written"
    journey.snap("workflow-new-refused")
    assert services.workflows.list(tenant_a.operator, None, 10).items == []

    # From the shipped welcome series, on the newsletter.
    journey.goto("/app/workflows/new?template=welcome")
    page.select_option("#f-list_id", news)
    page.fill("#f-from_email", "news@acme.test")
    page.fill("#f-workflow-name", "Welcome to the newsletter")
    page.click("#create-from-template")
    page.wait_for_url(re.compile(r".*/app/workflows/wfl[^/?]*\?done=created$"))
    journey.check()
    expect(page.locator("#status")).to_have_text("draft")
    expect(page.locator("#steps tbody tr")).to_have_count(5)
    expect(page.locator('#steps tr[data-step="wait-2-days"]')).to_contain_text("Wait 2 days")

    page.click("#activate")
    page.wait_for_url(re.compile(r".*\?done=activate$"))
    expect(page.locator("#status")).to_have_text("active")
    assert _figure(journey, "welcome", "entered") == "0"

    # A person subscribes; the engine lets them in, sends the first mail, and
    # they wait at the next step.
    add_contact(client, tenant_a.headers, "ada@gmail.test", [news])
    services.automation().drain()
    page.reload()
    journey.check()
    assert _figure(journey, "welcome", "entered") == "1"
    assert _figure(journey, "welcome", "sent") == "1"
    assert _figure(journey, "wait-2-days", "waiting") == "1"
    expect(page.locator('[data-total="entered"]')).to_have_text("1")
    journey.snap("workflow-active")

    journey.goto("/app/workflows")
    row = page.locator("#workflows tbody tr").first
    expect(row).to_contain_text("Welcome to the newsletter")
    expect(row.locator('[data-count="waiting"]')).to_have_text("1")
    journey.snap("workflows-list")

    # Pause, edit (a new version while someone is inside), archive.
    page.click("text=Welcome to the newsletter")
    page.click("#pause")
    page.wait_for_url(re.compile(r".*\?done=pause$"))
    expect(page.locator("#status")).to_have_text("paused")
    text = page.input_value("#f-definition").replace("days: 5", "days: 6")
    page.fill("#f-definition", text)
    page.click("#save")
    page.wait_for_url(re.compile(r".*\?done=saved$"))
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    journey.snap("workflow-versions")
    page.click("#archive")
    page.wait_for_url(re.compile(r".*\?done=archive$"))
    expect(page.locator("#status")).to_have_text("archived")
    expect(page.locator('[data-total="left"]')).to_have_text("1")
