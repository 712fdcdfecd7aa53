"""The workflow templates shipped with Courriel: listed, made into a tenant's
workflow (its list, sender and its own copies of the mails), refused with the
field at fault and nothing stored; and the consent-renewal template renewing
the consent of a person who confirms while the silent one's lapses."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from courriel.audience.models import ConsentAction, ConsentRecord, Subscription
from courriel.automation.models import Workflow
from courriel.content.models import Template
from courriel.core.clock import FrozenClock
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.automation.helpers import FROM, add_contact, make_list, run, stats, subjects
from tests.support.tenants import TenantAccess

_PREFERENCES = re.compile(r"/p/[A-Za-z0-9_.~-]+")
_FIELD = re.compile(r'action="[^"]*/subscriptions">(.*?)</form>', re.DOTALL)


def _counts(services: Services, tenant: TenantAccess) -> tuple[int, int]:
    with services.storage.tenant(tenant.tenant.id)() as session:
        return (
            int(session.scalar(select(func.count()).select_from(Workflow)) or 0),
            int(session.scalar(select(func.count()).select_from(Template)) or 0),
        )


def test_the_shipped_templates_are_listed_and_made_into_a_tenants_workflow(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    h = tenant_a.headers
    listed = client.get("/v1/workflow-templates", headers=h)
    assert listed.status_code == 200
    assert [t["key"] for t in listed.json()] == ["welcome", "re-engagement", "re-permission"]
    news = make_list(client, h)
    made = client.post(
        "/v1/workflow-templates/welcome/workflows",
        json={"list_id": news, "from_email": FROM, "name": "Hello"},
        headers=h,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["name"], body["status"]) == ("Hello", "draft")
    assert body["definition"]["trigger"]["list_id"] == news
    sends = [s for s in body["definition"]["steps"] if s["kind"] == "send"]
    assert len(sends) == 3
    for step in sends:  # each mail is the tenant's own template now, to edit
        found = client.get(f"/v1/templates/{step['template_id']}", headers=h)
        assert found.status_code == 200, found.text
    activated = client.post(f"/v1/workflows/{body['id']}/activate", headers=h)
    assert activated.status_code == 200, activated.text


def test_bad_fillings_are_refused_by_field_and_store_nothing(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    theirs = make_list(client, tenant_b.headers, "B's list")
    ours = make_list(client, tenant_a.headers)
    before = _counts(services, tenant_a)
    cases = [
        ({"list_id": theirs, "from_email": FROM}, "list_id"),  # another tenant's list
        ({"list_id": "lst_nope", "from_email": FROM}, "list_id"),
        ({"list_id": ours, "from_email": "nobody"}, "from_email"),
        ({"list_id": ours, "from_email": FROM, "mail_templates": {"ask": "tpl_x"}}, "ask"),
        ({"list_id": ours, "from_email": FROM, "mail_templates": {"nope": "tpl_x"}}, "nope"),
    ]
    for body, field in cases:
        answer = client.post(
            "/v1/workflow-templates/re-permission/workflows", json=body, headers=tenant_a.headers
        )
        assert answer.status_code == 422, (body, answer.text)
        assert field in answer.text, answer.text
    missing = client.post(
        "/v1/workflow-templates/nope/workflows",
        json={"list_id": ours, "from_email": FROM},
        headers=tenant_a.headers,
    )
    assert missing.status_code == 404
    assert _counts(services, tenant_a) == before


def _keep_my_lists(client: TestClient, sandbox: Sandbox, email: str, list_id: str) -> None:
    """The person follows the mail's link and presses "Keep these lists"."""
    (message,) = sandbox.store.inbox(email)
    found = _PREFERENCES.search(message.text)
    assert found is not None, message.text
    path = found.group(0)
    page = client.get(path)
    assert page.status_code == 200, page.text
    form = _FIELD.search(page.text)
    assert form is not None
    fields = dict(re.findall(r'name="(token|csrf)" value="([^"]+)"', form.group(1)))
    answer = client.post(
        f"{path}/subscriptions", data={**fields, "keep": [list_id]}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text


def _subscribed(services: Services, tenant: TenantAccess, contact_id: str) -> bool:
    with services.storage.tenant(tenant.tenant.id)() as session:
        return (
            session.scalar(select(Subscription).where(Subscription.contact_id == contact_id))
            is not None
        )


def test_re_permission_renews_who_confirms_and_lets_the_silent_lapse(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    sandbox: Sandbox,
    clock: FrozenClock,
) -> None:
    h = tenant_a.headers
    news = make_list(client, h)
    ada = add_contact(client, h, "ada@gmail.test", [news])
    bob = add_contact(client, h, "bob@yahoo.test", [news])
    clock.advance(days=400)  # their consent is old now
    made = client.post(
        "/v1/workflow-templates/re-permission/workflows",
        json={"list_id": news, "from_email": FROM},
        headers=h,
    )
    assert made.status_code == 201, made.text
    workflow = made.json()["id"]
    assert client.post(f"/v1/workflows/{workflow}/activate", headers=h).status_code == 200
    for contact in (ada, bob):
        posted = client.post(
            "/v1/events/custom",
            json={"name": "consent_renewal_due", "contact_id": contact},
            headers=h,
        )
        assert posted.status_code == 201, posted.text
    run(services)
    assert subjects(sandbox, "ada@gmail.test") == ["Do you still want to hear from us?"]
    assert subjects(sandbox, "bob@yahoo.test") == ["Do you still want to hear from us?"]

    clock.advance(days=3)
    _keep_my_lists(client, sandbox, "ada@gmail.test", news)

    clock.advance(days=11)
    run(services)
    # Ada renewed: no reminder. Bob is reminded once.
    assert len(subjects(sandbox, "ada@gmail.test")) == 1
    assert subjects(sandbox, "bob@yahoo.test") == [
        "Do you still want to hear from us?",
        "Last reminder: do you still want our mail?",
    ]
    clock.advance(days=7)
    run(services)
    assert _subscribed(services, tenant_a, ada)
    assert not _subscribed(services, tenant_a, bob)
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        renewed = session.scalars(
            select(ConsentRecord.contact_id).where(
                ConsentRecord.action == ConsentAction.RECONFIRMED
            )
        ).all()
    assert renewed == [ada]
    figures = stats(client, h, workflow)
    assert figures["by_step"]["renewed"]["entered"] == 2
    assert figures["by_step"]["remind"]["sent"] == 1
    assert figures["by_step"]["lapse"]["entered"] == 1
    assert figures["totals"]["completed"] == 2
    assert figures["totals"]["waiting"] == 0
    # Bob is off the list, so nothing more reaches him.
    clock.advance(days=30)
    run(services)
    assert len(subjects(sandbox, "bob@yahoo.test")) == 2
