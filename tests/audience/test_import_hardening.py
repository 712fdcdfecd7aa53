"""Issue 18 items 2, 8 and 11: bad files and other tenants' imports, each a clear error."""

from __future__ import annotations

from fastapi.testclient import TestClient

from courriel.audience.models import PropertyKind
from courriel.services import Services
from tests.support.tenants import TenantAccess


def _setup(services: Services, who: TenantAccess) -> str:
    services.audience.properties.define(
        who.operator, "country", PropertyKind.CHOICE, ["FR", "DE", "BE"]
    )
    return services.audience.create_list(who.operator, "News", "Our news", double_opt_in=False).id


def test_rejection_report_of_an_unknown_or_other_tenants_import_is_404(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    list_id = _setup(services, tenant_a)
    response = client.post(
        f"/v1/lists/{list_id}/imports",
        files={"file": ("people.csv", b"email\nbad@@example.com\n", "text/csv")},
        data={"legal_basis": "consent", "source": "event"},
        headers=tenant_a.headers,
    )
    assert response.status_code == 202, response.text
    import_id = response.json()["id"]
    for who, wanted in ((tenant_b, import_id), (tenant_a, "imp_unknown")):
        report = client.get(f"/v1/imports/{wanted}/rejections.csv", headers=who.headers)
        assert report.status_code == 404, report.text
        assert report.headers["content-type"] == "application/problem+json"
        assert "line,reason" not in report.text
    own = client.get(f"/v1/imports/{import_id}/rejections.csv", headers=tenant_a.headers)
    assert own.status_code == 200
    assert own.text.splitlines()[1].startswith("2,")
