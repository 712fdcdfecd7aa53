"""List hygiene at import: one rejection line per refused address, with its reason."""

from __future__ import annotations

import socket
from pathlib import Path

import dns.asyncresolver
import pytest
from fastapi.testclient import TestClient

from courriel.audience.hygiene.maildomains import MailDomains
from courriel.audience.hygiene.screen import ListHygiene
from courriel.audience.importer import ImportRequest, ImportService
from courriel.audience.models import ContactImport
from courriel.audience.schemas import ContactOut
from courriel.config import Settings
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.delivery.mx import DnsMxResolver
from courriel.services import Services
from tests.deliverability.zone import write_hygiene_zone
from tests.support.tenants import TenantAccess


def _import(imports: ImportService, who: TenantAccess, list_id: str, path: Path) -> ContactImport:
    request = ImportRequest(
        list_id=list_id, file_name=path.name, legal_basis="consent", source="customers"
    )
    job = imports.start(who.operator, request, path)
    return imports.run(who.operator, job, request, path)


def _rejections(services: Services, who: TenantAccess, import_id: str) -> dict[int, str]:
    rows = services.audience.imports.all_rejections(who.operator, import_id)
    return {r.line: r.reason for r in rows}


def _emails(services: Services, who: TenantAccess) -> set[str]:
    return {c.email for c in services.audience.list_contacts(who.operator, None, 100).items}


def test_role_disposable_null_mx_typo_and_no_mail_each_get_one_line_with_the_reason(
    services: Services, settings: Settings, tenant_a: TenantAccess, tmp_path: Path
) -> None:
    write_hygiene_zone(settings)
    lst = services.audience.create_list(
        tenant_a.operator, "News", "Our news", double_opt_in=False, role_addresses="refuse"
    )
    path = tmp_path / "people.csv"
    path.write_text(
        "email\n"
        "ana@live.test\n"  # 2: fine
        "postmaster@live.test\n"  # 3: a role address, refused by this list
        "zoe@yopmail.com\n"  # 4: disposable
        "bob@sub.mailinator.com\n"  # 5: under a disposable domain
        "bob@nullmx.test\n"  # 6: null MX
        "eve@gmial.com\n"  # 7: a typo of gmail.com
        "joe@nomail.test\n"  # 8: no MX, no address
        "web@webonly.test\n"  # 9: no MX but an address: mail goes there
    )
    job = _import(services.audience.imports, tenant_a, lst.id, path)
    assert (job.imported, job.rejected) == (2, 6)
    assert _rejections(services, tenant_a, job.id) == {
        3: "email: postmaster@live.test is a role address (a function, not a person): "
        "this list refuses them",
        4: "email: zoe@yopmail.com is at a disposable (throwaway) domain, yopmail.com",
        5: "email: bob@sub.mailinator.com is at a disposable (throwaway) domain, "
        "sub.mailinator.com",
        6: "email: bob@nullmx.test: nullmx.test publishes a null MX (RFC 7505): it accepts no mail",
        7: "email: eve@gmial.com: gmial.com looks like a typo; did you mean eve@gmail.com?",
        8: "email: joe@nomail.test: nomail.test has no mail server "
        "(neither MX nor address records)",
    }
    assert _emails(services, tenant_a) == {"ana@live.test", "web@webonly.test"}


def test_a_flagging_list_takes_role_addresses_and_shows_them(
    services: Services,
    settings: Settings,
    tenant_a: TenantAccess,
    tmp_path: Path,
    client: TestClient,
) -> None:
    write_hygiene_zone(settings)
    lst = services.audience.create_list(tenant_a.operator, "News", "x", double_opt_in=False)
    assert lst.role_addresses == "flag"
    path = tmp_path / "people.csv"
    path.write_text("email\nNoReply+news@live.test\nana@live.test\nabuse@live.test\n")
    job = _import(services.audience.imports, tenant_a, lst.id, path)
    assert (job.imported, job.rejected, job.flagged) == (3, 0, 2)
    shown = {
        c.email: ContactOut.model_validate(c, from_attributes=True).role_address
        for c in services.audience.list_contacts(tenant_a.operator, None, 10).items
    }
    assert shown == {
        "NoReply+news@live.test": True,
        "ana@live.test": False,
        "abuse@live.test": True,
    }
    # The API shows the count and the flag.
    shown_job = client.get(f"/v1/imports/{job.id}", headers=tenant_a.headers).json()
    assert (shown_job["flagged"], shown_job["unchecked_domains"]) == (2, 0)
    contacts = client.get("/v1/contacts", headers=tenant_a.headers).json()["data"]
    assert {c["email"]: c["role_address"] for c in contacts} == shown
    # Switched to refuse: the next import of role addresses gets rejection lines.
    services.audience.set_list_role_addresses(tenant_a.operator, lst.id, "refuse")
    again = tmp_path / "again.csv"
    again.write_text("email\nwebmaster@live.test\n")
    second = _import(services.audience.imports, tenant_a, lst.id, again)
    assert (second.imported, second.rejected, second.flagged) == (0, 1, 0)


def test_unreachable_dns_skips_the_domain_check_and_the_report_says_so(
    services: Services, settings: Settings, tenant_a: TenantAccess, tmp_path: Path
) -> None:
    # A name server nobody answers on: a UDP port just closed.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.lifetime = 0.5
    domains = MailDomains(DnsMxResolver(resolver), timeout=1.0, probe="")
    imports = ImportService(
        services.storage,
        services.clock,
        services.secret_key,
        hygiene=ListHygiene(Path(settings.data_dir), domains),
    )
    lst = services.audience.create_list(tenant_a.operator, "News", "x", double_opt_in=False)
    path = tmp_path / "people.csv"
    path.write_text("email\nana@courriel-unreachable.org\nzoe@yopmail.com\nbo@other.org\n")
    job = _import(imports, tenant_a, lst.id, path)
    # Skipped, not failed: both addresses are taken; the disposable one, known
    # without DNS, is still refused.
    assert (job.imported, job.rejected, job.unchecked_domains) == (2, 1, 2)


def test_a_resolver_that_denies_every_domain_is_not_believed(
    services: Services, settings: Settings
) -> None:
    # An offline machine's resolver says "no such domain" to all: the probe
    # domain, which surely has mail, "does not exist" either, so nothing is refused.
    write_hygiene_zone(settings)
    from courriel.delivery.mx import StaticMxResolver  # noqa: PLC0415

    denying = StaticMxResolver({}, {})  # every name: "not in the table" (NXDOMAIN)
    believed = MailDomains(denying, probe="")
    doubted = MailDomains(denying, probe="gmail.com")
    assert believed.check(["acme.org"])["acme.org"].verdict == "refused"
    verdict = doubted.check(["acme.org"])["acme.org"]
    assert (verdict.verdict, verdict.reason) == (
        "skipped",
        "DNS unreachable: mail servers not checked",
    )
    # The sandbox zone still answers for its own names, in the same batch and after.
    zone = StaticMxResolver({"nullmx.test": [(".", 0)]}, {}, fallback=denying)
    mixed = MailDomains(zone, probe="gmail.com")
    for _ in range(2):
        found = mixed.check(["nullmx.test", "acme.org"])
        assert (found["nullmx.test"].verdict, found["acme.org"].verdict) == ("refused", "skipped")


def test_role_setting_bad_inputs_and_other_tenants(
    services: Services, client: TestClient, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    lst = services.audience.create_list(tenant_a.operator, "News", "x")
    with pytest.raises(InvalidInputError, match="role_addresses: must be one of flag, refuse"):
        services.audience.set_list_role_addresses(tenant_a.operator, lst.id, "maybe")
    with pytest.raises(InvalidInputError, match="role_addresses"):
        services.audience.create_list(tenant_a.operator, "Other", "x", role_addresses="")
    assert services.audience.get_list(tenant_a.operator, lst.id).role_addresses == "flag"
    # Another tenant cannot see or change the list.
    with pytest.raises(NotFoundError):
        services.audience.set_list_role_addresses(tenant_b.operator, lst.id, "refuse")
    url = f"/v1/lists/{lst.id}/role-addresses"
    assert (
        client.put(url, json={"role_addresses": "refuse"}, headers=tenant_b.headers).status_code
        == 404
    )
    bad = client.put(url, json={"role_addresses": "sometimes"}, headers=tenant_a.headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "role_addresses"
    done = client.put(url, json={"role_addresses": "refuse"}, headers=tenant_a.headers)
    assert done.status_code == 200, done.text
    assert done.json()["role_addresses"] == "refuse"
    assert services.audience.get_list(tenant_a.operator, lst.id).role_addresses == "refuse"
