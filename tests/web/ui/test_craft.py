"""Segments and templates in the browser: a segment built with its error shown
where it is and a live count; an MJML template previewed for a contact at two
widths, checked, and test-sent into the sandbox's mailbox; bad input that
leaves the saved version as it was."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import expect

from courriel.audience.models import ConsentSource
from courriel.audience.segments.parser import SegmentError
from courriel.audience.service import ConsentInput, ContactInput
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from courriel.web.ui.mail_templates import error_line
from courriel.web.ui.segments import locate
from tests.support.delivery import deliver_all
from tests.support.journey import Journey
from tests.support.tenants import TenantAccess
from tests.web.ui.conftest import Member, member

MJML = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text font-size="20px">Hello {{ contact.first_name }}!</mj-text>
        <mj-text>Our autumn letter is out: three new recipes and a walk.</mj-text>
        <mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""


def _people(services: Services, tenant: TenantAccess) -> None:
    letter = services.audience.create_list(tenant.operator, "Letter", "news", double_opt_in=False)
    consent = ConsentInput(source=ConsentSource.API, purpose_text="news")
    for email, first in (
        ("ada@gmail.test", "Ada"),
        ("bob@gmail.test", "Bob"),
        ("cy@yahoo.test", "Cy"),
    ):
        services.audience.subscribe(
            tenant.operator, ContactInput(email=email, first_name=first), [letter.id], consent
        )


def _painted(journey: Journey) -> None:
    """Scroll to the top and let the frames paint: a full-page screenshot of a
    scrolled page leaves the sandboxed (out-of-process) frames blank."""
    journey.page.evaluate("window.scrollTo(0, 0)")
    journey.page.evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
    )
    journey.page.wait_for_timeout(150)


def _type(journey: Journey, selector: str, text: str) -> None:
    """Replace a field's text and release a key, as a person typing does (htmx listens to keyup)."""
    field = journey.page.locator(selector)
    field.fill(text)
    field.press("End")


def test_build_a_segment_see_the_error_where_it_is_fix_it_and_count(
    journey: Journey, admin: Member, services: Services, tenant_a: TenantAccess
) -> None:
    _people(services, tenant_a)
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto("/app/segments")
    page = journey.page
    page.click("text=New segment")
    page.wait_for_url("**/app/segments/new")
    journey.check()
    page.fill("#f-name", "Gmail readers")
    # The second "=" on line 2 (column 18) is where the expression goes wrong.
    _type(journey, "#f-expression", 'email.domain = "gmail.test"\nand first_name = = "Ada"')
    error = page.locator("#expression-error")
    expect(error).to_contain_text("Line 2, column 18:")
    expect(error).to_contain_text("expected a value")
    marker = page.locator("#expression-error .marker").inner_text().split("\n")
    assert marker[0] == 'and first_name = = "Ada"'
    assert marker[1] == " " * 17 + "^"
    assert page.locator("#f-expression").get_attribute("aria-invalid") is None  # live only
    journey.snap("segment-error")

    _type(journey, "#f-expression", 'email.domain = "gmail.test"\nor first_name = "Cy"')
    expect(page.locator("#segment-count")).to_have_text("3")
    _type(journey, "#f-expression", 'email.domain = "gmail.test"')
    expect(page.locator("#segment-count")).to_have_text("2")
    journey.snap("segment-count")

    # Saving a wrong expression without the live check: refused, shown at its place.
    _type(journey, "#f-expression", 'email.domain = "gmail.test" and')
    with journey.expecting(422):
        page.click("text=Save segment")
    expect(page.locator("#expression-error")).to_contain_text("Line 1, column 32:")
    assert page.locator("#f-expression").input_value() == 'email.domain = "gmail.test" and'
    assert page.locator("#f-expression").get_attribute("aria-invalid") == "true"
    journey.check()

    _type(journey, "#f-expression", 'email.domain = "gmail.test"')
    page.click("text=Save segment")
    page.wait_for_url(re.compile(r".*/app/segments/seg_[^?]+\?saved=true"))
    expect(page.locator("#segment-count")).to_have_text("2")
    journey.check()
    journey.goto("/app/segments")
    expect(page.locator("table")).to_contain_text("Gmail readers")
    journey.snap("segments")
    (saved,) = services.audience.segments.list(tenant_a.operator)
    assert saved.count == 2
    assert saved.segment.expression == 'email.domain = "gmail.test"'


def test_write_an_mjml_template_preview_it_for_a_contact_check_and_test_send_it(
    journey: Journey,
    admin: Member,
    services: Services,
    tenant_a: TenantAccess,
    sandbox: Sandbox,
) -> None:
    _people(services, tenant_a)
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto("/app/templates")
    page = journey.page
    page.click("text=New template")
    page.wait_for_url("**/app/templates/new")
    journey.check()
    page.fill("#f-name", "Autumn letter")
    _type(journey, "#f-subject", "News for {{ contact.first_name }}")
    _type(journey, "#f-source", MJML)
    # The live preview of the draft, with sample data.
    desktop = page.frame_locator("iframe.desktop")
    expect(desktop.locator("body")).to_contain_text("Hello Alex!")
    page.click("text=Create template")
    page.wait_for_url(re.compile(r".*/app/templates/tpl_[^?]+\?saved=true"))
    journey.check()
    template_id = page.url.split("/app/templates/")[1].split("?")[0]

    # For a contact: the contact's name is in the preview and its subject.
    page.fill("#f-contact", "ada@gmail.test")
    page.locator("#f-contact").press("Tab")
    expect(page.frame_locator("iframe.desktop").locator("body")).to_contain_text("Hello Ada!")
    expect(page.locator("#preview-subject")).to_have_text("News for Ada")
    assert page.locator("iframe.desktop").get_attribute("sandbox") == ""
    _painted(journey)
    journey.snap("template-preview-desktop")

    page.click("label:has-text('Phone')")
    expect(page.locator("iframe.mobile")).to_be_visible()
    expect(page.locator("iframe.desktop")).to_be_hidden()
    width = page.locator("iframe.mobile").evaluate("f => f.getBoundingClientRect().width")
    assert width <= 375
    expect(page.frame_locator("iframe.mobile").locator("body")).to_contain_text("Hello Ada!")
    _painted(journey)
    journey.snap("template-preview-mobile")

    # The checklist of the saved version.
    checklist = page.locator("#checklist")
    row = checklist.locator("tr", has_text="Unsubscribe link")
    expect(row).to_contain_text("Passed")
    expect(checklist.locator("tr", has_text="Sender named")).to_contain_text("Warning")
    expect(page.locator("#versions")).to_contain_text("Version 1 (current)")

    # A test send, with Ada's data, arrives in her sandbox mailbox.
    page.fill("#f-to", "ada@gmail.test")
    page.fill("#f-from_email", "news@shop.test")
    page.fill("#f-from_name", "The Shop")
    page.fill("#f-send_contact", "ada@gmail.test")
    page.click("text=Send a test")
    page.wait_for_url(re.compile(r".*sent=ada%40gmail.test.*"))
    expect(page.locator(".notice.ok")).to_contain_text("Test message sent to ada@gmail.test")
    journey.snap("template-test-sent")
    # Playwright's loop runs in this thread; delivery runs its own in another.
    with ThreadPoolExecutor(1) as other:
        other.submit(deliver_all, services).result()
    (received,) = sandbox.store.inbox("ada@gmail.test")
    assert received.subject == "News for Ada"
    assert "Hello Ada!" in received.text
    assert services.templates.get(tenant_a.operator, template_id)[0].current_version == 1
    journey.goto("/app/templates")
    expect(page.locator("table")).to_contain_text("Autumn letter")
    journey.snap("templates")


def test_invalid_mjml_or_a_template_syntax_error_shows_the_error_and_keeps_the_saved_version(
    journey: Journey, admin: Member, services: Services, tenant_a: TenantAccess
) -> None:
    template, _version = services.templates.create(tenant_a.operator, "Letter", "Hello", mjml=MJML)
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto(f"/app/templates/{template.id}")
    page = journey.page
    broken = "<mjml><mj-body><mj-section><mj-column><mj-text>Hi</mj-column></mjml>"
    _type(journey, "#f-source", broken)
    # The live preview says why it cannot render, next to the editor.
    expect(page.locator("#preview-error")).to_contain_text("MJML does not compile")
    with journey.expecting(422):
        page.click("text=Save as a new version")
    note = page.locator("#f-source-note")
    expect(note).to_contain_text("MJML does not compile")
    expect(page.locator(".notice.error").first).to_contain_text("The saved version is unchanged")
    assert page.locator("#f-source").input_value() == broken
    assert page.locator("#f-source").get_attribute("aria-invalid") == "true"
    journey.snap("template-invalid-mjml")

    broken_tag = MJML.replace("{{ contact.first_name }}", "{{ contact.first_name | }}")
    _type(journey, "#f-source", broken_tag)
    # The error names the line of the MJML as written, and shows it.
    expect(page.locator("#preview-error")).to_contain_text("template error on line 5:")
    expect(page.locator("#preview-error .marker")).to_contain_text("5 | ")
    with journey.expecting(422):
        page.click("text=Save as a new version")
    expect(page.locator("#f-source-note")).to_contain_text("template error on line 5:")
    line = page.locator("#f-source-note .marker").inner_text()
    assert line.startswith("5 | ")
    assert "Hello {{ contact.first_name | }}!" in line
    _painted(journey)
    journey.snap("template-syntax-error")

    found, version = services.templates.get(tenant_a.operator, template.id)
    assert found.current_version == 1
    assert version.source == MJML
    journey.goto(f"/app/templates/{template.id}")
    assert page.locator("#f-source").input_value() == MJML


def test_an_error_is_located_by_line_and_column_with_a_marker_under_the_text() -> None:
    text = 'email.domain = "gmail.test"\n\tand city = "Par'
    position = text.index('"Par')
    found = locate(text, SegmentError(position, "unexpected character '\"'"))
    assert (found.line, found.column) == (2, 13)
    assert found.text == '\tand city = "Par'
    # The tab stays a tab, so the caret lines up however tabs are drawn.
    assert found.marker == "\t" + " " * 11 + "^^^^"
    assert found.reason == "unexpected character '\"'"
    at_end = locate("email =", SegmentError(len("email ="), "expected a value"))
    assert (at_end.line, at_end.column, at_end.marker) == (1, 8, " " * 7 + "^")


def test_an_analyst_reads_segments_and_templates_but_changes_and_sends_nothing(
    journey: Journey, services: Services, tenant_a: TenantAccess
) -> None:
    _people(services, tenant_a)
    services.audience.segments.create(tenant_a.operator, "Gmail", 'email.domain = "gmail.test"')
    template, _version = services.templates.create(tenant_a.operator, "Letter", "Hello", mjml=MJML)
    analyst = member(services, tenant_a, "analyst@example.test", "analyst")
    journey.sign_in(analyst.email, analyst.password)
    journey.goto("/app/segments")
    page = journey.page
    assert page.locator("text=New segment").count() == 0
    page.get_by_role("link", name="Gmail", exact=True).click()
    expect(page.locator("#segment-count")).to_have_text("2")
    assert page.locator("text=Save segment").count() == 0
    journey.check()

    journey.goto(f"/app/templates/{template.id}")
    expect(page.frame_locator("iframe.desktop").locator("body")).to_contain_text("Hello Alex!")
    assert page.locator("text=Save as a new version").count() == 0
    assert page.locator("#test-send").count() == 0
    # A preview for a person needs the right to see people: refused, said next to it.
    page.fill("#f-contact", "ada@gmail.test")
    page.locator("#f-contact").press("Tab")
    expect(page.locator("#preview-error")).to_be_visible()
    journey.check()
    # The editor of a new segment is refused, as a page.
    with journey.expecting(403):
        page.goto(journey.base + "/app/segments/new")
    assert page.locator("h1").count() == 1
    assert services.templates.get(tenant_a.operator, template.id)[0].current_version == 1


def test_a_template_error_shows_the_line_it_names() -> None:
    source = "<mjml>\n<mj-body>\n{% if x %}\n</mj-body>"
    assert error_line(source, "template error on line 3: Unexpected end") == (3, "{% if x %}")
    assert error_line(source, "template error on line 9: far") is None
    assert error_line(source, "MJML does not compile") is None
