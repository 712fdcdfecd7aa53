"""The recipients' privacy center over HTTP: what a person can do from the
preferences link of an email, and every way a token can fail (404)."""

from __future__ import annotations

import datetime as dt
import html
import json
import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from courriel.audience.models import ConsentAction, ConsentRecord, Contact
from courriel.campaigns.models import CampaignRecipient
from courriel.content.links import click_token, preferences_token, unsubscribe_token
from courriel.core.db import transaction
from courriel.core.models import AuditEntry
from courriel.core.tokens import sign
from courriel.services import Services
from courriel.web.pages.center import center_router
from courriel.web.ratelimit import MemoryRateLimiter
from tests.support.seeds.rights import add_person, make_campaign, make_list, message_of, send
from tests.support.tenants import TenantAccess

ADA = "ada@gmail.test"


def _setup(client: TestClient, services: Services, who: TenantAccess) -> tuple[str, str, str]:
    """Ada on two lists, one campaign spooled; returns (contact id, message id, center path)."""
    news = make_list(client, who, "News <b>& more</b>")
    offers = make_list(client, who, "Offers")
    ada = add_person(client, who, news, ADA, "Ada")
    add_person(client, who, offers, ADA, "Ada")
    campaign = make_campaign(client, who, news)
    send(client, who, campaign)
    message = message_of(services, who, campaign, ada)
    return ada, message, f"/p/{preferences_token(services.secret_key, who.tenant.id, message)}"


def _fields(page: str, action: str) -> dict[str, str]:
    form = re.search(rf'action="[^"]*/{action}">(.*?)</form>', page, re.DOTALL)
    assert form is not None, action
    values = dict(re.findall(r'name="(token|csrf)" value="([^"]+)"', form.group(1)))
    return {k: html.unescape(v) for k, v in values.items()}


def _post(client: TestClient, path: str, action: str, **extra: object) -> object:
    page = client.get(path)
    assert page.status_code == 200
    return client.post(
        f"{path}/{action}", data={**_fields(page.text, action), **extra}, follow_redirects=False
    )


def test_the_center_shows_the_persons_lists_escaped_and_safely(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    _ada, _message, path = _setup(client, services, tenant_a)
    page = client.get(path)
    assert page.status_code == 200
    assert "News &lt;b&gt;&amp; more&lt;/b&gt;" in page.text
    assert "<b>&" not in page.text
    assert ADA in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert "samesite=strict" in page.headers["set-cookie"].lower()
    for action in ("subscriptions", "download", "restrict", "tracking", "delete"):
        assert set(_fields(page.text, action)) == {"token", "csrf"}


def test_leaving_a_list_records_the_withdrawal_and_comes_back_to_the_center(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    ada, _message, path = _setup(client, services, tenant_a)
    lists = client.get("/v1/lists", headers=tenant_a.headers).json()["data"]
    ids = {m["name"]: m["id"] for m in lists}
    news, offers = ids["News <b>& more</b>"], ids["Offers"]

    response = _post(client, path, "subscriptions", keep=[news])

    assert response.status_code == 303  # type: ignore[attr-defined]
    assert response.headers["location"] == f"{path}?done=subscriptions"  # type: ignore[attr-defined]
    after = client.get(f"/v1/contacts/{ada}/subscriptions", headers=tenant_a.headers).json()
    assert after == {news: "subscribed", offers: "unsubscribed"}
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        last = session.scalars(
            select(ConsentRecord).where(ConsentRecord.contact_id == ada).order_by(ConsentRecord.id)
        ).all()[-1]
    assert (last.action, last.list_id, last.form_id) == (
        ConsentAction.WITHDRAWN,
        offers,
        "privacy-center",
    )
    assert "Your lists are updated." in client.get(f"{path}?done=subscriptions").text


def test_download_restrict_and_stop_tracking_take_effect_at_once(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    ada, _message, path = _setup(client, services, tenant_a)

    download = _post(client, path, "download")
    assert download.status_code == 200  # type: ignore[attr-defined]
    assert "attachment" in download.headers["content-disposition"]  # type: ignore[attr-defined]
    data = json.loads(download.text)  # type: ignore[attr-defined]
    assert data["contact"]["email"] == ADA
    assert len(data["subscriptions"]) == 2
    assert _post(client, path, "restrict").status_code == 303  # type: ignore[attr-defined]
    assert _post(client, path, "tracking").status_code == 303  # type: ignore[attr-defined]

    contact = services.audience.get_contact(tenant_a.operator, ada)
    assert (contact.restricted, contact.no_tracking) == (True, True)
    requests = client.get("/v1/privacy/requests", headers=tenant_a.headers).json()["data"]
    assert sorted((r["type"], r["status"], r["channel"]) for r in requests) == [
        ("access", "fulfilled", "privacy-center"),
        ("objection", "fulfilled", "privacy-center"),
        ("restriction", "fulfilled", "privacy-center"),
    ]
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        trail = session.scalars(select(AuditEntry).where(AuditEntry.actor == "recipient")).all()
    assert {e.action for e in trail} >= {"privacy.data.exported", "privacy.restriction.fulfilled"}
    assert all(ADA not in e.detail for e in trail)
    page = client.get(path).text
    assert "Processing of your data is restricted." in page
    assert "We do not track your opens and clicks." in page


def test_delete_me_needs_the_box_ticked_then_erases(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    ada, _message, path = _setup(client, services, tenant_a)

    unticked = _post(client, path, "delete")
    assert unticked.status_code == 422  # type: ignore[attr-defined]
    assert services.audience.get_contact(tenant_a.operator, ada).email == ADA

    erased = _post(client, path, "delete", confirm="yes")
    assert erased.status_code == 200  # type: ignore[attr-defined]
    assert "Your data is erased" in erased.text  # type: ignore[attr-defined]
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        assert session.scalar(select(Contact.id).where(Contact.email == ADA)) is None
    # The link opens nothing any more.
    assert client.get(path).status_code == 404


def test_tampered_expired_and_wrong_purpose_tokens_are_not_found(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    tid = tenant_a.tenant.id
    ada, message, path = _setup(client, services, tenant_a)
    token = path.removeprefix("/p/")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (
        tampered,
        token + "x",
        unsubscribe_token(services.secret_key, tid, message),
        click_token(services.secret_key, tid, message, 0),
        "nonsense",
    ):
        assert client.get(f"/p/{bad}").status_code == 404, bad
    page = client.get(path).text
    download = _fields(page, "download")
    # A token made for one action never works for another.
    wrong = client.post(f"{path}/delete", data={**download, "confirm": "yes"})
    assert wrong.status_code == 404
    assert client.post(f"{path}/restrict", data=download).status_code == 404
    # An expired action token.
    now = dt.datetime.now(dt.UTC)
    stale = sign(
        services.secret_key,
        "privacy-center:restrict",
        {"t": tid, "c": ada, "m": message},
        now - dt.timedelta(seconds=1),
    )
    restrict = _fields(page, "restrict")
    assert client.post(f"{path}/restrict", data={**restrict, "token": stale}).status_code == 404
    # A CSRF token without its cookie.
    fresh = TestClient(client.app)
    assert fresh.post(f"{path}/restrict", data=restrict).status_code == 404
    # An expired link: its message is older than the link lifetime.
    with transaction(services.storage.tenant(tid)) as session:
        session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.id == message)
            .values(created_at=now - dt.timedelta(days=400))
        )
    assert client.get(path).status_code == 404
    assert client.post(f"{path}/restrict", data=restrict).status_code == 404
    contact = services.audience.get_contact(tenant_a.operator, ada)
    assert contact.restricted is False


def test_the_center_is_rate_limited_per_address(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    _ada, _message, path = _setup(client, services, tenant_a)
    app = FastAPI()
    app.state.services = services
    app.include_router(center_router(MemoryRateLimiter(limit=3, window_seconds=600)))
    limited = TestClient(app)
    assert [limited.get(path).status_code for _ in range(4)] == [200, 200, 200, 429]
