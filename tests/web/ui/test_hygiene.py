"""List hygiene and spam scoring in the application: the list's role rule, the import
report's refused lines (masked for a role that hides addresses), the campaign checklist."""

from __future__ import annotations

from pathlib import Path

from courriel.audience.importer import ImportRequest
from courriel.config import Settings
from courriel.services import Services
from tests.deliverability.zone import write_hygiene_zone
from tests.support.journey import Journey
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import TenantAccess
from tests.web.ui.conftest import Member, member


def test_role_rule_import_report_and_checklist_in_the_application(
    journey: Journey,
    services: Services,
    settings: Settings,
    tenant_a: TenantAccess,
    admin: Member,
    tmp_path: Path,
) -> None:
    write_hygiene_zone(settings)
    owner = tenant_a.operator
    lst = services.audience.create_list(owner, "News", "Our news", double_opt_in=False)
    journey.sign_in(admin.email, admin.password, admin.totp_secret)
    journey.goto(f"/app/contacts/lists/{lst.id}")
    page = journey.page
    assert page.locator("#role-addresses").inner_text() == "Imported with a flag"
    page.select_option("#f-role_addresses", "refuse")
    page.click("form[action$='/role-addresses'] button[type=submit]")
    page.wait_for_url("**created=role-addresses")
    journey.check()
    assert page.locator("#role-addresses").inner_text() == "Refused"
    # An import through the service; its report in the application.
    path = tmp_path / "people.csv"
    path.write_text(
        "email\nana@live.test\nabuse@live.test\nzoe@yopmail.com\nbob@nullmx.test\neve@gmial.com\n"
    )
    request = ImportRequest(lst.id, "people.csv", "consent", "customers")
    job = services.audience.imports.run(
        owner, services.audience.imports.start(owner, request, path), request, path
    )
    journey.goto(f"/app/imports/{job.id}")
    lines = page.locator("#rejections tbody tr").all_inner_texts()
    assert [line.split("\t")[0] for line in lines] == ["3", "4", "5", "6"]
    assert "did you mean eve@gmail.com?" in lines[3]
    assert "null MX (RFC 7505)" in lines[2]
    # The campaign checklist names the forbidden words.
    list_id = seed_list(services, tenant_a, ["a@x.test"])
    campaign = make_campaign(
        services, tenant_a, [list_id], html="<p>Casino en ligne : 50 tours gratuits !</p>"
    )
    journey.goto(f"/app/campaigns/{campaign}")
    row = page.locator("[data-check=forbidden_content]").inner_text()
    assert "Forbidden content" in row
    assert "gambling: casino en ligne, tours gratuits" in row
    # A role that hides addresses reads the same lines, addresses masked.
    services.roles.create(
        owner, "masked-reader", ["lists:read", "contacts:read"], "visible", {"email": "hidden"}
    )
    reader = member(services, tenant_a, "mo@example.test", "analyst")
    services.roles.assign(owner, reader.user.id, "masked-reader")
    journey.page.context.clear_cookies()
    journey.sign_in(reader.email, reader.password)
    journey.goto(f"/app/imports/{job.id}")
    masked = page.locator("#rejections").inner_text()
    assert "a***@l***.test is a role address" in masked
    assert "abuse@" not in masked
    assert "eve@" not in masked
