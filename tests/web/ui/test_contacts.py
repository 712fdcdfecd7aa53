"""Lists, contacts and imports in the browser: the import wizard and its
rejections, search and the contact page, subscribing and unsubscribing,
masked addresses for a role that hides them, and a user limited to one list
who sees nothing of another."""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
from playwright.sync_api import FilePayload

from courriel.audience.importer import ImportRequest
from courriel.audience.models import ConsentSource, PropertyKind
from courriel.audience.service import ConsentInput, ContactInput
from courriel.core.db import transaction
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.services import Services
from tests.support.journey import Journey
from tests.support.tenants import TenantAccess
from tests.web.ui.conftest import Member, member

CSV_WITH_BAD_ROWS = (
    b"E-mail,First name,city\n"
    b"ann@example.test,Ann,Paris\n"
    b"not-an-address,Bad,Lyon\n"
    b"bob@example.test,Bob,Paris\n"
    b",Nobody,Nice\n"
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NOT_A_TABLE = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"


@dataclass(frozen=True)
class World:
    news: str
    offers: str
    ann: str
    bob: str


def _world(services: Services, tenant: TenantAccess) -> World:
    """Two lists; Ann on News (with a bounce in her history), Bob on Offers."""
    owner = tenant.operator
    audience = services.audience
    audience.properties.define(owner, "city", PropertyKind.TEXT)
    news = audience.create_list(owner, "News", "Our monthly news", double_opt_in=False)
    offers = audience.create_list(owner, "Offers", "Special offers", double_opt_in=False)
    consent = ConsentInput(source=ConsentSource.API, purpose_text="Our monthly news")
    ann = audience.subscribe(
        owner,
        ContactInput(email="ann@example.test", first_name="Ann", properties={"city": "Paris"}),
        [news.id],
        consent,
    ).contact
    bob = audience.subscribe(
        owner,
        ContactInput(email="bob@example.test", first_name="Bob", properties={"city": "Paris"}),
        [offers.id],
        consent,
    ).contact
    with transaction(services.storage.tenant(tenant.tenant.id)) as session:
        record_events(
            session,
            [
                NewEvent(
                    type=EventType.BOUNCED,
                    occurred_at=dt.datetime.now(dt.UTC),
                    contact_id=ann.id,
                    detail={"reply": "550 5.1.1 <ann@example.test>: mailbox full"},
                )
            ],
        )
    return World(news=news.id, offers=offers.id, ann=ann.id, bob=bob.id)


def _upload(journey: Journey, list_name: str, name: str, content: bytes, mime: str) -> None:
    page = journey.page
    page.select_option("#f-list_id", label=list_name)
    upload: FilePayload = {"name": name, "mimeType": mime, "buffer": content}
    page.set_input_files("#f-file", files=[upload])
    page.click("#upload button[type=submit]")


def test_an_import_with_bad_rows_shows_its_progress_and_its_rejections(
    journey: Journey, services: Services, tenant_a: TenantAccess, admin: Member
) -> None:
    world = _world(services, tenant_a)
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto("/app/imports")
    journey.snap("imports-upload")
    _upload(journey, "News", "people.csv", CSV_WITH_BAD_ROWS, "text/csv")
    page = journey.page
    page.wait_for_url("**/app/imports/new/*")
    journey.check()
    # Columns are proposed by name: "E-mail" → email, "city" → the property.
    assert page.locator("#column-0").input_value() == "email"
    assert page.locator("#column-2").input_value() == "city"
    page.select_option("#column-1", "first_name")
    page.select_option("#f-legal_basis", "consent")
    page.select_option("#f-source", "customers")
    journey.snap("imports-mapping")
    page.click("#mapping button[type=submit]")
    page.wait_for_url("**/app/imports/imp_*")
    # The progress fragment is polled until the import is done, then the page reloads.
    page.wait_for_selector("#rejections")
    journey.check()
    assert page.locator("#status").inner_text() == "done"
    assert page.locator("[data-figure=imported]").inner_text() == "1"
    assert page.locator("[data-figure=rejected]").inner_text() == "2"
    assert page.locator("#bar").get_attribute("value") == page.locator("#bar").get_attribute("max")
    lines = page.locator("#rejections tbody tr").all_inner_texts()
    assert [line.split("\t")[0] for line in lines] == ["3", "5"]
    journey.snap("imports-report")
    with page.expect_download() as download:
        page.click("text=Download the report (CSV)")
    report = download.value.path().read_text(encoding="utf-8")
    assert report.splitlines()[0] == "line,reason"
    assert len(report.splitlines()) == 3
    # The import is listed, and the new contact is on News.
    journey.goto("/app/imports")
    assert "people.csv" in page.locator("#imports").inner_text()
    found = services.audience.list_contacts(tenant_a.operator, None, 50).items
    assert {c.email for c in found} == {"ann@example.test", "bob@example.test"}
    assert world.news in services.audience.subscriptions_of(tenant_a.operator, world.bob)


def test_a_file_that_is_not_csv_and_an_unknown_column_are_refused_keeping_everything(
    journey: Journey, services: Services, tenant_a: TenantAccess, admin: Member
) -> None:
    _world(services, tenant_a)
    before = services.audience.list_contacts(tenant_a.operator, None, 50).items
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto("/app/imports")
    page = journey.page
    with journey.expecting(422):
        _upload(journey, "Offers", "photo.csv", NOT_A_TABLE, "text/csv")
    journey.check()
    assert "not a CSV or XLSX file" in page.locator("#f-file-note").inner_text()
    assert page.locator("#f-list_id option:checked").inner_text() == "Offers"
    journey.snap("imports-not-a-table")

    _upload(journey, "Offers", "more.csv", b"email,nickname\ncid@example.test,Cid\n", "text/csv")
    page.wait_for_url("**/app/imports/new/*")
    mapping_url = page.url
    # A mapping to a field that does not exist (as a tampered form would send it).
    page.evaluate(
        """() => { const s = document.querySelector('#column-1');
        s.add(new Option('shoe_size', 'shoe_size')); s.value = 'shoe_size'; }"""
    )
    page.select_option("#f-legal_basis", "contract")
    page.select_option("#f-source", "event")
    with journey.expecting(422):
        page.click("#mapping button[type=submit]")
    journey.check()
    assert "is not a contact field or property" in page.locator("#column-1-note").inner_text()
    # What was chosen is kept, and nothing was imported or stored.
    assert page.locator("#f-legal_basis").input_value() == "contract"
    assert page.locator("#f-source").input_value() == "event"
    assert services.audience.imports.list_imports(tenant_a.operator, None, 50).items == []
    journey.snap("imports-unknown-column")
    # The upload is still there: the corrected mapping imports it.
    page.select_option("#column-1", "")
    page.click("#mapping button[type=submit]")
    page.wait_for_url("**/app/imports/imp_*")
    page.wait_for_selector("#outcome")
    journey.check()
    assert page.locator("[data-figure=imported]").inner_text() == "1"
    after = services.audience.list_contacts(tenant_a.operator, None, 50).items
    assert {c.id for c in before} <= {c.id for c in after}
    # A finished upload cannot be started again.
    with journey.expecting(404):
        page.goto(mapping_url)
    assert page.locator("h1").inner_text() == "Not found"


def test_search_a_contact_open_its_page_subscribe_and_unsubscribe(
    journey: Journey, services: Services, tenant_a: TenantAccess, admin: Member
) -> None:
    world = _world(services, tenant_a)
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto("/app/contacts")
    page = journey.page
    assert page.locator("#lists tbody tr").count() == 2
    journey.snap("contacts-lists")
    page.fill("#f-address", "ANN@")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**/app/contacts?address=*")
    journey.check()
    assert page.locator("#found tbody tr").all_inner_texts()[0].startswith("ann@example.test")
    journey.snap("contacts-search")
    page.click("#found >> text=ann@example.test")
    page.wait_for_url(f"**/app/contacts/{world.ann}")
    journey.check()
    assert page.locator("#subscriptions tbody tr").all_inner_texts()[0].startswith("News")
    assert "Our monthly news" in page.locator("#ledger").inner_text()
    assert "bounced" in page.locator("#timeline").inner_text()
    journey.snap("contact-page")

    # Subscribe her to Offers, then take her off News.
    page.select_option("#f-list_id", label="Offers")
    page.check("input[name=confirmed]")
    page.click("#subscribe button[type=submit]")
    page.wait_for_url("**?done=subscribed")
    journey.check()
    assert "Offers" in page.locator("#subscriptions").inner_text()
    statuses = services.audience.subscriptions_of(tenant_a.operator, world.ann)
    assert statuses[world.offers].value == "subscribed"
    page.click("text=Unsubscribe from News")
    page.wait_for_url("**?done=unsubscribed")
    journey.check()
    assert "withdrawn" in page.locator("#ledger").inner_text()
    statuses = services.audience.subscriptions_of(tenant_a.operator, world.ann)
    assert statuses[world.news].value == "unsubscribed"
    journey.snap("contact-unsubscribed")
    with page.expect_download() as download:
        page.click("text=Download the proof of consent (JSON)")
    proof = json.loads(download.value.path().read_text(encoding="utf-8"))
    assert [r["action"] for r in proof["ledger"]][-1] == "withdrawn"

    # A property search, and a bad one answered beside its field.
    journey.goto("/app/contacts?property=city:Paris")
    assert page.locator("#found tbody tr").count() == 2
    with journey.expecting(422):
        page.goto(journey.base + "/app/contacts?property=nonsense")
    journey.check()
    assert "name:value" in page.locator("#f-property-note").inner_text()


def test_lists_forms_snippet_and_preview(
    journey: Journey, services: Services, tenant_a: TenantAccess, admin: Member
) -> None:
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto("/app/contacts")
    page = journey.page
    page.click("text=Create a list")
    page.wait_for_url("**/app/contacts/lists/new")
    journey.check()
    page.fill("#f-name", "   ")
    with journey.expecting(422):
        page.click("button[type=submit] >> text=Create the list")
    journey.check()
    assert page.locator("#f-name-note").inner_text()
    page.fill("#f-name", "Café news")
    page.fill("#f-purpose", "The café's monthly letter")
    page.click("button[type=submit] >> text=Create the list")
    page.wait_for_url("**/app/contacts/lists/lst_*?created=list")
    journey.check()
    page.fill("#f-title", "Join the café")
    page.fill("#f-consent_text", "I agree to receive the monthly letter")
    page.click("text=Create the form")
    page.wait_for_url("**created=form*")
    journey.check()
    snippet = page.locator(".signup-form textarea").input_value()
    assert snippet.startswith("<iframe src=")
    assert "/f/" in snippet
    page.click(".signup-form summary")
    frame = page.frame_locator(".signup-form iframe")
    assert frame.locator("h1").inner_text() == "Join the café"
    journey.snap("list-forms")


def test_a_role_that_hides_addresses_sees_them_masked_everywhere(
    journey: Journey, services: Services, tenant_a: TenantAccess
) -> None:
    world = _world(services, tenant_a)
    services.roles.create(
        tenant_a.operator,
        "masked-reader",
        ["lists:read", "contacts:read", "events:read"],
        "visible",
        {"email": "hidden"},
    )
    marketer = member(services, tenant_a, "mo@example.test", "analyst")
    services.roles.assign(tenant_a.operator, marketer.user.id, "masked-reader")
    journey.sign_in(marketer.email, marketer.password)
    journey.goto("/app/contacts")
    page = journey.page
    # No address search for who may not see addresses; a property search shows them masked.
    assert page.locator("#f-address").count() == 0
    listed = page.locator("#found").inner_text()
    assert "a***@e***.test" in listed
    assert "example.test" not in listed
    journey.snap("contacts-masked")
    journey.goto("/app/contacts?property=city:Paris")
    found = page.locator("#found").inner_text()
    assert "a***@e***.test" in found
    assert "b***@e***.test" in found
    assert "ann@" not in found
    journey.goto(f"/app/contacts/{world.ann}")
    body = page.locator("main").inner_text()
    assert "a***@e***.test" in body
    assert "ann@example.test" not in body
    # Even the address inside the bounce reply of her timeline.
    assert "<a***@e***.test>" in page.locator("#timeline").inner_text()
    journey.snap("contact-masked")
    # Searching by the hidden field through the URL is refused.
    with journey.expecting(403):
        page.goto(journey.base + "/app/contacts?address=ann")
    assert "ann@example.test" not in page.content()

    # The built-in analyst hides every personal field.
    analyst = member(services, tenant_a, "al@example.test", "analyst")
    journey.page.context.clear_cookies()
    journey.sign_in(analyst.email, analyst.password)
    journey.goto(f"/app/contacts/{world.bob}")
    assert "b***@e***.test" in page.locator("#details").inner_text()
    assert "Bob" not in page.locator("#details").inner_text()


def test_a_user_limited_to_one_list_sees_nothing_of_another(
    journey: Journey, services: Services, tenant_a: TenantAccess, tmp_path: Path
) -> None:
    world = _world(services, tenant_a)
    mia = member(services, tenant_a, "mia@example.test", "admin", totp=True)
    services.roles.set_rights(tenant_a.operator, mia.user.id, [world.news])
    # An import into Offers, Bob's list.
    imports = services.audience.imports
    path = tmp_path / "offers.csv"
    path.write_bytes(b"email\ncid@example.test\n")
    request = ImportRequest(world.offers, "offers.csv", "consent", "customers")
    job = imports.start(tenant_a.operator, request, path)
    imports.run(tenant_a.operator, job, request, path)

    journey.sign_in(mia.email, mia.password, mia.totp_secret)
    journey.goto("/app/contacts")
    page = journey.page
    lists = page.locator("#lists").inner_text()
    assert "News" in lists
    assert "Offers" not in lists
    found = page.locator("#found").inner_text()
    assert "ann@example.test" in found
    assert "bob@example.test" not in found
    assert page.locator("text=Create a list").count() == 0
    journey.goto("/app/contacts?property=city:Paris")
    assert "bob@" not in page.locator("#found").inner_text()
    journey.snap("contacts-one-list")
    journey.goto(f"/app/contacts/{world.ann}")
    assert "Offers" not in page.locator("main").inner_text()
    assert page.locator("#subscribe").count() == 0
    for path_ in (
        f"/app/contacts/{world.bob}",
        f"/app/contacts/lists/{world.offers}",
        f"/app/contacts/{world.bob}/consent/proof",
        f"/app/imports/{job.id}",
    ):
        with journey.expecting(404):
            page.goto(journey.base + path_)
        assert page.locator("h1").inner_text() == "Not found", path_
        assert "bob@" not in page.content()
    journey.snap("contact-other-list-404")
    journey.goto("/app/imports")
    assert "offers.csv" not in page.locator("main").inner_text()
    assert "Offers" not in page.locator("#f-list_id").inner_text()


def test_a_spreadsheet_is_imported_through_the_same_wizard(
    journey: Journey, services: Services, tenant_a: TenantAccess, admin: Member
) -> None:
    _world(services, tenant_a)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Email address", "city"])
    sheet.append(["dee@example.test", "Lille"])
    sheet.append(["oops", "Lille"])
    buffer = io.BytesIO()
    book.save(buffer)
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto("/app/imports")
    _upload(journey, "News", "people.xlsx", buffer.getvalue(), XLSX)
    page = journey.page
    page.wait_for_url("**/app/imports/new/*")
    journey.check()
    assert page.locator("#column-0").input_value() == "email"
    page.select_option("#f-legal_basis", "consent")
    page.select_option("#f-source", "event")
    page.click("#mapping button[type=submit]")
    page.wait_for_url("**/app/imports/imp_*")
    page.wait_for_selector("#rejections")
    journey.check()
    assert page.locator("[data-figure=imported]").inner_text() == "1"
    assert page.locator("#rejections tbody tr").count() == 1
