"""Segments (language, error positions, counts) and exports (capability, audit, CSV safety)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fastapi.testclient import TestClient

from courriel.audience.models import ConsentSource, PropertyKind
from courriel.audience.segments.parser import SegmentError
from courriel.audience.service import ConsentInput, ContactInput
from courriel.core.audit import AuditFilter
from courriel.core.db import transaction
from courriel.core.errors import ForbiddenError, NotFoundError
from courriel.core.principal import Capability, Principal
from courriel.events.models import Event, EventType
from courriel.services import Services
from tests.support.tenants import TenantAccess

PEOPLE = [
    ("a@yahoo.com", "FR", 30),
    ("b@ymail.com", "FR", 40),
    ("c@gmail.com", "FR", 50),
    ("d@yahoo.com", "DE", 60),
]


def _seed(services: Services, who: TenantAccess) -> tuple[str, dict[str, str]]:
    op = who.operator
    services.audience.properties.define(op, "country", PropertyKind.CHOICE, ["FR", "DE"])
    services.audience.properties.define(op, "age", PropertyKind.NUMBER)
    lst = services.audience.create_list(op, "News", "news", double_opt_in=False)
    consent = ConsentInput(source=ConsentSource.API, purpose_text="news", ip="192.0.2.9")
    ids = {}
    for email, country, age in PEOPLE:
        result = services.audience.subscribe(
            op,
            ContactInput(email=email, properties={"country": country, "age": age}),
            [lst.id],
            consent,
        )
        ids[email] = result.contact.id
    now = services.clock.now()
    with transaction(services.storage.tenant(who.tenant.id)) as session:
        for email, days in (("a@yahoo.com", 10), ("b@ymail.com", 200), ("d@yahoo.com", 5)):
            session.add(
                Event(
                    id=f"evt_{email}",
                    type=EventType.OPENED,
                    campaign_id="cmp_1",
                    contact_id=ids[email],
                    detail={},
                    occurred_at=now - dt.timedelta(days=days),
                )
            )
    return lst.id, ids


def test_the_example_segment_and_friends(services: Services, tenant_a: TenantAccess) -> None:
    list_id, _ = _seed(services, tenant_a)

    def count(text: str) -> int:
        return services.audience.segments.count(tenant_a.operator, text)

    example = (
        'country = "FR" and opened within 90 days and email.domain in ("yahoo.com", "ymail.com")'
    )
    assert count(example) == 1
    assert count('country = "FR"') == 3
    assert count("age >= 40 and age < 60") == 2
    assert count('not (country = "FR") or email contains "b@"') == 2
    assert count('opened campaign "cmp_1"') == 3
    assert count("clicked") == 0
    assert count(f'list "{list_id}" and subscribed within 1 days') == 4
    assert count('created before "2000-01-01"') == 0
    assert count('country is set and EMAIL.DOMAIN = "YAHOO.COM"') == 2


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("' OR 1=1 --", 0, "unexpected character"),
        ('country = "FR" OR 1=1 --', 22, "unexpected character '-'"),
        ('country = "FR" or 1 = 1', 18, "expected a field or condition"),
        ('country = "FR" or admin = 1', 18, "unknown field 'admin'"),
        ("shoe_size = 3", 0, "unknown field '"),
        ('country = "FR" and', 18, "expected a field"),
        ('country = "FR"; DROP TABLE contacts', 14, "unexpected character"),
        ('age = "old"', 0, "number"),
        ("opened within 0 days", 14, "days must be"),
        ('country == "FR"', 9, "expected a value"),
        ('(country = "FR"', 15, "')'"),
        ("", 0, "empty"),
    ],
)
def test_segment_errors_name_the_position(
    services: Services, tenant_a: TenantAccess, text: str, position: int, words: str
) -> None:
    _seed(services, tenant_a)
    with pytest.raises(SegmentError) as caught:
        services.audience.segments.count(tenant_a.operator, text)
    assert caught.value.position == position, caught.value.detail
    assert words in caught.value.detail
    assert caught.value.field == "expression"


def test_saved_segments_have_live_counts_over_http(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    _seed(services, tenant_a)
    made = client.post(
        "/v1/segments",
        json={"name": "French", "expression": 'country = "FR"'},
        headers=tenant_a.headers,
    )
    assert made.status_code == 201
    assert made.json()["count"] == 3
    services.audience.subscribe(
        tenant_a.operator,
        ContactInput(email="e@free.fr", properties={"country": "FR"}),
        [services.audience.list_lists(tenant_a.operator, None, 10).items[0].id],
        ConsentInput(source=ConsentSource.API, purpose_text="news"),
    )
    seg = client.get(f"/v1/segments/{made.json()['id']}", headers=tenant_a.headers)
    assert seg.json()["count"] == 4
    bad = client.post(
        "/v1/segments/count", json={"expression": "' OR 1=1 --"}, headers=tenant_a.headers
    )
    assert bad.status_code == 422
    assert "position 0" in bad.json()["detail"]
    assert (
        client.get(f"/v1/segments/{made.json()['id']}", headers=tenant_b.headers).status_code == 404
    )
    assert client.get("/v1/segments", headers=tenant_b.headers).json() == []
    other = client.post(
        "/v1/segments/count", json={"expression": 'country = "FR"'}, headers=tenant_b.headers
    )
    assert other.status_code == 422  # tenant B has no such property


def test_export_needs_the_capability_is_audited_and_neutralizes_formulas(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    list_id, _ = _seed(services, tenant_a)
    services.audience.subscribe(
        tenant_a.operator,
        ContactInput(email="f@example.com", first_name='=HYPERLINK("http://x")', last_name="@SUM"),
        [list_id],
        ConsentInput(source=ConsentSource.API, purpose_text="news"),
    )
    response = client.get(f"/v1/lists/{list_id}/export", headers=tenant_a.headers)
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert lines[0].startswith("email,first_name,last_name,language,timezone,status,consent_action")
    formula = next(line for line in lines if line.startswith("f@example.com"))
    assert "'=HYPERLINK" in formula
    assert "'@SUM" in formula
    assert "192.0.2.9" in response.text
    narrowed = client.get(
        f"/v1/lists/{list_id}/export",
        params={"format": "json", "segment": 'country = "DE"'},
        headers=tenant_a.headers,
    )
    rows = [json.loads(line) for line in narrowed.text.splitlines()]
    assert [r["email"] for r in rows] == ["d@yahoo.com"]
    assert rows[0]["consent_ip"] == "192.0.2.9"
    assert rows[0]["property.country"] == "DE"
    audit = services.audit.entries(tenant_a.operator, AuditFilter(action="contacts.exported")).items
    assert [(a.action, a.subject, json.loads(a.detail)["format"]) for a in audit] == [
        ("contacts.exported", f"list:{list_id}", "csv"),
        ("contacts.exported", f"list:{list_id}", "json"),
    ]
    assert audit[0].actor.startswith("key:")
    assert audit[0].source_ip == "testclient"
    reader = Principal(
        tenant_id=tenant_a.tenant.id,
        capabilities=frozenset({Capability.CONTACTS_READ}),
        actor="key:reader",
    )
    with pytest.raises(ForbiddenError, match="contacts:export"):
        services.audience.exports.export(reader, list_id, "csv")
    assert client.get(f"/v1/lists/{list_id}/export", headers=tenant_b.headers).status_code == 404
    with pytest.raises(NotFoundError):
        services.audience.exports.export(tenant_b.operator, list_id, "csv")
