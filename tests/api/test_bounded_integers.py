"""Issue 18 item 7: integers at or above 2^63 are refused as 422 naming the field, never a 500."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from courriel.services import Services
from courriel.web.app import create_app
from tests.support.tenants import TenantAccess

HUGE = 99999999999999999999999999
PROBLEM = "application/problem+json"


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert field in [e["field"] for e in response.json()["errors"]], response.text


def _template(client: TestClient, access: TenantAccess) -> str:
    response = client.post(
        "/v1/templates",
        json={"name": "T", "subject": "Hi", "html": "<p>Hi</p>"},
        headers=access.headers,
    )
    assert response.status_code == 201, response.text
    template_id: str = response.json()["id"]
    return template_id


def test_huge_integers_in_paths_and_bodies_are_422_naming_the_field(
    client: TestClient, tenant_a: TenantAccess
) -> None:
    h = tenant_a.headers
    _refused(client.delete(f"/v1/suppressions/{HUGE}", headers=h), "suppression_id")
    template = _template(client, tenant_a)
    _refused(client.get(f"/v1/templates/{template}/versions/{HUGE}", headers=h), "version")
    _refused(
        client.post(f"/v1/templates/{template}/preview", json={"version": HUGE}, headers=h),
        "version",
    )
    _refused(
        client.post(
            f"/v1/templates/{template}/test-send",
            json={"to": "qa@example.test", "from_email": "news@shop.test", "version": HUGE},
            headers=h,
        ),
        "version",
    )
    # Beyond an INTEGER column on PostgreSQL (32 bits) is refused as well …
    _refused(client.get(f"/v1/templates/{template}/versions/{2**31}", headers=h), "version")
    _refused(client.delete(f"/v1/suppressions/{2**40}", headers=h), "suppression_id")
    # … and just inside the range is an ordinary "not found".
    inside = client.get(f"/v1/templates/{template}/versions/{2**31 - 1}", headers=h)
    assert inside.status_code == 404, inside.text
    assert client.get("/v1/lists", headers=h).status_code == 200


def _integers(schema: Any, path: str, components: dict[str, Any], seen: set[str]) -> list[str]:
    """Every integer schema reachable from `schema` that lacks a minimum or a maximum."""
    if not isinstance(schema, dict):
        return []
    found: list[str] = []
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            return []
        return _integers(components[name], f"{path}->{name}", components, {*seen, name})
    if schema.get("type") == "integer" and not (
        ("minimum" in schema or "exclusiveMinimum" in schema)
        and ("maximum" in schema or "exclusiveMaximum" in schema)
    ):
        found.append(path)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for i, sub in enumerate(schema.get(key, [])):
            found += _integers(sub, f"{path}.{key}[{i}]", components, seen)
    for key in ("items", "additionalProperties"):
        found += _integers(schema.get(key), f"{path}.{key}", components, seen)
    for name, sub in schema.get("properties", {}).items():
        found += _integers(sub, f"{path}.{name}", components, seen)
    return found


def test_every_integer_the_api_accepts_is_bounded(services: Services) -> None:
    document = create_app(services).openapi()
    components = document.get("components", {}).get("schemas", {})
    unbounded: list[str] = []
    for route, methods in document["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {route}"
            for parameter in operation.get("parameters", []):
                unbounded += _integers(
                    parameter.get("schema"), f"{where} {parameter['name']}", components, set()
                )
            for media in operation.get("requestBody", {}).get("content", {}).values():
                unbounded += _integers(media.get("schema"), f"{where} body", components, set())
    assert unbounded == []
