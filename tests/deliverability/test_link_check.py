"""Link checking before a send, against the sandbox internet's web hosts.

Every link is really fetched from the simulated web server on loopback (the
zone file pins its hosts), and the URI blocklist is the sandbox's DNS zone.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from courriel.cli.main import app
from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.core.errors import InvalidInputError
from courriel.delivery.mx import StaticMxResolver
from courriel.policy.links.service import LinkChecker
from courriel.sandbox.server import Sandbox
from courriel.sandbox.web import BLOCKLIST_ZONE, Page
from courriel.sandbox.zone import zone_path
from courriel.services import Services
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import TenantAccess

SITE = "http://www.example.test"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.link_check_campaigns = True
    settings.link_check_blocklist_zones = [BLOCKLIST_ZONE]
    settings.link_check_timeout_seconds = 1.0
    settings.link_check_max_redirects = 3
    return settings


def _campaign(services: Services, tenant: TenantAccess, links: str) -> str:
    list_id = seed_list(services, tenant, ["a@gmail.test"])
    return make_campaign(services, tenant, [list_id], html=f"<p>Spring news.</p>{links}")


def _checker(services: Services, settings: Settings, clock: FrozenClock) -> LinkChecker:
    zone = StaticMxResolver.from_zone_file(zone_path(settings.data_dir))
    return LinkChecker(
        services.storage, settings, clock, pinned=zone.address_of, records=zone.records
    )


def test_a_campaign_with_bad_links_is_refused_with_one_line_per_problem(
    services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    campaign = _campaign(
        services,
        tenant_a,
        f'<a href="{SITE}/offer">Our offer</a>'
        f'<a href="{SITE}/missing">Old page</a>'
        f'<a href="{SITE}/to-listed">Win</a>'
        f'<a href="http://shop.other.test/landing">www.example.test/account</a>'
        '<a href="http://nowhere.test/">Gone</a>',
    )
    with pytest.raises(InvalidInputError) as refused:
        services.campaign_control.send(tenant_a.operator, campaign)
    assert refused.value.field == "template"
    assert refused.value.reason.splitlines() == [
        f"link_check: {SITE}/missing: dead link (HTTP 404)",
        (
            f"link_check: {SITE}/to-listed: redirects to http://www.listed.test/win, on another "
            f"domain; listed.test is listed on {BLOCKLIST_ZONE} (127.0.1.2)"
        ),
        (
            "link_check: http://shop.other.test/landing: phishing sign: the link shows "
            "www.example.test but leads to shop.other.test"
        ),
        "link_check: http://nowhere.test/: dead link (DNS: host 'nowhere.test' does not resolve)",
    ]
    assert services.campaigns.get(tenant_a.operator, campaign).status.value == "draft"


def test_good_links_pass_and_the_campaign_sends(
    services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    campaign = _campaign(
        services,
        tenant_a,
        f'<a href="{SITE}/offer">www.example.test/offer</a>'
        f'<a href="{SITE}/moved">Moved twice, same site</a>'
        f'<a href="{SITE}/no-head">HEAD refused</a>'
        f'<a href="{SITE}/offer">The same link again</a>',
    )
    checklist = services.content_checks.checklist(tenant_a.operator, campaign)
    item = next(i for i in checklist.items if i.check == "link_check")
    assert (item.passed, item.detail) == (True, "3 link(s) fetched: each leads to a page")
    # HEAD was refused (405), so the page was asked again with GET.
    assert sandbox.web.requests[("GET", "www.example.test", "/no-head")] == 1
    # A link that appears twice is fetched once.
    assert sandbox.web.requests[("HEAD", "www.example.test", "/offer")] == 2  # /offer, /moved
    services.campaign_control.send(tenant_a.operator, campaign)
    assert services.campaigns.get(tenant_a.operator, campaign).status.value == "sending"


def test_limits_redirect_loops_slow_and_huge_pages(
    services: Services, tenant_a: TenantAccess, settings: Settings, sandbox: Sandbox
) -> None:
    sandbox.web.hosts["www.example.test"].pages["/huge-get"] = Page(
        body_bytes=50_000_000, head=False
    )
    checker = _checker(services, settings, FrozenClock())
    reports = {
        r.url: r
        for r in checker.check_urls(
            tenant_a.tenant.id,
            [f"{SITE}/loop", f"{SITE}/slow", f"{SITE}/huge-get", f"{SITE}/broken", f"{SITE}/away"],
        )
    }
    assert reports[f"{SITE}/loop"].line.endswith("dead link (more than 3 redirects)")
    assert reports[f"{SITE}/slow"].line.endswith("dead link (no answer within 1 s)")
    assert reports[f"{SITE}/huge-get"].problems == ()
    assert reports[f"{SITE}/broken"].line.endswith("dead link (HTTP 500)")
    # Leaving the domain alone is a warning: shorteners and partners do it honestly.
    away = reports[f"{SITE}/away"]
    assert (away.blocking, away.final_url) == (False, "http://shop.other.test/landing")
    assert away.kinds == {"redirect"}


def test_a_cross_domain_redirect_is_a_warning(
    services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    campaign = _campaign(services, tenant_a, f'<a href="{SITE}/away">Partner</a>')
    checklist = services.content_checks.checklist(tenant_a.operator, campaign)
    assert [i.check for i in checklist.blocking] == []
    warning = next(i for i in checklist.warnings if i.check == "link_redirects")
    assert warning.detail == (
        f"{SITE}/away: redirects to http://shop.other.test/landing, on another domain"
    )


def test_results_are_cached_per_tenant_until_they_expire(
    services: Services,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
    settings: Settings,
    sandbox: Sandbox,
) -> None:
    clock = FrozenClock(dt.datetime(2026, 12, 3, tzinfo=dt.UTC))
    checker = _checker(services, settings, clock)
    url = f"{SITE}/offer"
    first = checker.check_urls(tenant_a.tenant.id, [url])
    again = checker.check_urls(tenant_a.tenant.id, [url])
    assert (first[0].cached, again[0].cached) == (False, True)
    assert sandbox.web.hits("www.example.test", "/offer") == 1
    # Another tenant never gets the first one's answers: its own fetch.
    other = checker.check_urls(tenant_b.tenant.id, [url])
    assert other[0].cached is False
    assert sandbox.web.hits("www.example.test", "/offer") == 2
    clock.advance(hours=settings.link_check_cache_hours + 1)
    assert checker.check_urls(tenant_a.tenant.id, [url])[0].cached is False
    assert sandbox.web.hits("www.example.test", "/offer") == 3


def test_private_addresses_are_refused_and_never_fetched(
    services: Services, tenant_a: TenantAccess, settings: Settings, sandbox: Sandbox
) -> None:
    ip, port = sandbox.zone.hosts["www.example.test"]
    pages = sandbox.web.hosts["www.example.test"].pages
    pages["/to-loopback"] = Page(status=302, location=f"http://{ip}:{port}/offer")
    pages["/to-localhost"] = Page(status=307, location=f"http://localhost:{port}/offer")
    checker = _checker(services, settings, FrozenClock())
    direct = [
        f"http://{ip}:{port}/offer",
        f"http://localhost:{port}/offer",
        f"http://[::1]:{port}/offer",
        f"http://0x7f000001:{port}/offer",
        "http://169.254.169.254/latest/meta-data/",
    ]
    reports = checker.check_urls(
        tenant_a.tenant.id, [*direct, f"{SITE}/to-loopback", f"{SITE}/to-localhost"]
    )
    for report in reports:
        assert report.kinds == {"refused"}, report.line
        assert "not fetched: resolves to a loopback, private" in report.line
    # The redirects were fetched up to the private hop, never past it.
    assert sandbox.web.hits("www.example.test", "/to-loopback") == 1
    assert sandbox.web.hits("www.example.test", "/offer") == 0
    assert sandbox.web.hits("localhost", "/offer") == 0
    assert sandbox.web.hits(ip, "/offer") == 0


BAD_URLS = [
    ("http://www.example.test:99999/", "not fetched: is not a valid URL"),
    ("http://[::1/", "not fetched: is not a valid URL"),
    ("http://user:secret@www.example.test/offer", "not fetched: must not carry credentials"),
    (f"{SITE}/{'a' * 2100}", "not fetched: is longer than 2048 characters"),
    ("http:///nohost", "not fetched: names no host"),
]


def test_bad_urls_get_a_clear_line_and_nothing_is_fetched(
    services: Services, tenant_a: TenantAccess, settings: Settings, sandbox: Sandbox
) -> None:
    checker = _checker(services, settings, FrozenClock())
    reports = checker.check_urls(tenant_a.tenant.id, [url for url, _ in BAD_URLS])
    assert [r.line for r in reports] == [f"{url}: {why}" for url, why in BAD_URLS]
    assert all(r.blocking for r in reports)
    assert sum(sandbox.web.requests.values()) == 0


def test_the_check_over_http_names_each_link(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
    sandbox: Sandbox,
) -> None:
    campaign = _campaign(services, tenant_a, f'<a href="{SITE}/broken">Broken</a>')
    body = client.get(f"/v1/campaigns/{campaign}/check", headers=tenant_a.headers).json()
    assert body["sendable"] is False
    item = next(i for i in body["items"] if i["check"] == "link_check")
    assert item["detail"] == f"{SITE}/broken: dead link (HTTP 500)"
    assert item["data"]["problems"] == [
        {
            "url": f"{SITE}/broken",
            "final_url": f"{SITE}/broken",
            "status_code": 500,
            "problems": [{"kind": "dead", "detail": "dead link (HTTP 500)"}],
        }
    ]
    assert (
        client.get(f"/v1/campaigns/{campaign}/check", headers=tenant_b.headers).status_code == 404
    )
    sent = client.post(f"/v1/campaigns/{campaign}/send", headers=tenant_a.headers)
    assert sent.status_code == 422
    assert "link_check: http://www.example.test/broken: dead link (HTTP 500)" in sent.text


def test_the_cli_check_prints_each_bad_link_and_fails(
    services: Services, settings: Settings, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    campaign = _campaign(services, tenant_a, f'<a href="{SITE}/missing">Old page</a>')
    env = {
        "COURRIEL_RESOLVER": "sandbox",
        "COURRIEL_LINK_CHECK_CAMPAIGNS": "true",
        "COURRIEL_DATABASE_PREFIX": settings.database_prefix,
        **({"COURRIEL_DATABASE_URL": settings.database_url} if settings.database_url else {}),
    }
    result = CliRunner().invoke(
        app,
        [
            *("campaigns", "check", campaign),
            *("--tenant", tenant_a.tenant.id, "--data-dir", str(settings.data_dir)),
        ],
        env=env,
    )
    assert result.exit_code == 1, result.output
    item = next(i for i in json.loads(result.output)["items"] if i["check"] == "link_check")
    assert item["detail"] == f"{SITE}/missing: dead link (HTTP 404)"
