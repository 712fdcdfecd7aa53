"""The access export answers Art. 15(1) and the register Art. 30(1): what is
done with the data, for what, who receives it, how long, from where, which
rights and where to complain; messages say what happened to them; the CSV
keeps phone numbers and defuses formulas."""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from courriel.audience.export import neutralize
from courriel.config import Settings
from courriel.content.links import preferences_token
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from courriel.web.app import create_app
from tests.support.databases import Templates, build_services
from tests.support.delivery import deliver_all, fast_profiles
from tests.support.seeds.rights import (
    add_person,
    fulfil,
    make_campaign,
    make_list,
    message_of,
    new_request,
    send,
)
from tests.support.tenants import TenantAccess, make_tenant

CONTROLLER = "Acme SAS, 1 rue de la Paix, 75002 Paris, privacy@acme.test"
DPO = "Jeanne Martin, dpo@acme.test"


@pytest.fixture
def gov(settings: Settings, templates: Templates) -> Iterator[Services]:
    fast = settings.model_copy(
        update={
            "throttle_profiles": fast_profiles(),
            "privacy_controller": CONTROLLER,
            "privacy_dpo": DPO,
        }
    )
    built = build_services(fast, templates)
    yield built
    built.close()


@pytest.fixture
def web(gov: Services) -> Iterator[TestClient]:
    with TestClient(create_app(gov)) as test_client:
        yield test_client


@pytest.fixture
def acme(gov: Services) -> TenantAccess:
    return make_tenant(gov, "Acme")


def _property(web: TestClient, who: TenantAccess, name: str) -> None:
    made = web.post("/v1/properties", json={"name": name, "kind": "text"}, headers=who.headers)
    assert made.status_code == 201, made.text


def test_the_access_export_answers_article_15(
    gov: Services, web: TestClient, acme: TenantAccess, sandbox: Sandbox
) -> None:
    _property(web, acme, "phone")
    _property(web, acme, "motto")
    news = make_list(web, acme, "News")
    rules = {"recipients": ["Courriel (email delivery)"], "consent_months": 24}
    assert (
        web.put(f"/v1/privacy/lists/{news}/governance", json=rules, headers=acme.headers)
    ).status_code == 200
    ada = add_person(
        web,
        acme,
        news,
        "ada@gmail.test",
        "Ada",
        properties={"phone": "+33612345678", "motto": '=HYPERLINK("http://x")'},
    )
    send(web, acme, make_campaign(web, acme, news))
    deliver_all(gov)
    request = new_request(web, acme, "access", ada)
    fulfil(web, acme, request["id"])
    url = f"/v1/privacy/requests/{request['id']}/export"

    held = json.loads(web.get(url, params={"format": "json"}, headers=acme.headers).text)
    assert [m["state"] for m in held["messages"]] == ["delivered"]
    info = held["information"]
    assert info["controller"] == CONTROLLER
    assert info["dpo"] == DPO
    assert info["purposes"][0]["list"] == "News"
    assert "Courriel (email delivery)" in info["recipients"]
    assert "24 months" in info["retention"][0]["retention"]
    assert info["source"] == ["api"]
    assert {"access", "rectification", "erasure", "restriction", "portability", "objection"} <= {
        r["right"] for r in info["rights"]
    }
    assert "supervisory authority" in info["complaint"]
    page = web.get(url, params={"format": "html"}, headers=acme.headers).text
    assert "Right to complain" in page
    assert "Jeanne Martin" in page

    table = web.get(url, params={"format": "csv"}, headers=acme.headers).text
    row = next(csv.DictReader(io.StringIO(table)))
    assert row["phone"] == "+33612345678"
    assert row["motto"].startswith("'=")


def test_the_register_names_controller_dpo_subjects_transfers_and_properties(
    web: TestClient, acme: TenantAccess
) -> None:
    _property(web, acme, "loyalty_tier")
    make_list(web, acme, "News")
    document = web.get("/v1/privacy/register", headers=acme.headers).json()
    assert document["controller"] == "Acme"
    assert document["controller_contact"] == CONTROLLER
    assert document["dpo"] == DPO
    assert document["data_subject_categories"]
    assert "transfers" in document
    assert document["security_measures"]
    activity = document["activities"][0]
    assert "loyalty_tier" in " ".join(activity["data_categories"])
    page = web.get("/v1/privacy/register", params={"format": "html"}, headers=acme.headers).text
    assert "Jeanne Martin" in page
    assert "Security measures" in page


def test_only_what_a_spreadsheet_evaluates_is_quoted() -> None:
    kept = ["+33612345678", "+33 6 12 34 56 78", "-12.5", "+1 (555) 010-0100", "ada", ""]
    assert [neutralize(v) for v in kept] == kept
    for formula in ("=1+2", "@SUM(A1)", "+A1", "-2+cmd|' /C calc'!A0", "\t=1", "+HYPERLINK(1)"):
        assert neutralize(formula) == "'" + formula


def test_each_tenant_names_its_own_controller_dpo_and_complaint_route(
    gov: Services, web: TestClient, acme: TenantAccess, sandbox: Sandbox
) -> None:
    own = {
        "organisation": "Acme",
        "controller": "Acme Ltd, 5 Main Street, Dublin, privacy@acme.test",
        "dpo": "Liam Byrne, dpo@acme.test",
        "complaint": "Data Protection Commission, Dublin (dataprotection.ie)",
    }
    saved = web.put("/v1/branding", json=own, headers=acme.headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["dpo"] == own["dpo"]
    other = make_tenant(gov, "Other")
    news = make_list(web, acme, "News")
    ada = add_person(web, acme, news, "ada@gmail.test", "Ada")
    campaign = make_campaign(web, acme, news)
    send(web, acme, campaign)
    deliver_all(gov)

    register = web.get("/v1/privacy/register", headers=acme.headers).json()
    assert register["controller_contact"] == own["controller"]
    assert register["dpo"] == own["dpo"]
    # A tenant that named nobody shows the installation's.
    theirs = web.get("/v1/privacy/register", headers=other.headers).json()
    assert theirs["controller_contact"] == CONTROLLER
    assert theirs["dpo"] == DPO

    request = new_request(web, acme, "access", ada)
    fulfil(web, acme, request["id"])
    held = web.get(
        f"/v1/privacy/requests/{request['id']}/export",
        params={"format": "json"},
        headers=acme.headers,
    ).json()
    assert held["information"]["controller"] == own["controller"]
    assert held["information"]["complaint"] == own["complaint"]

    message = message_of(gov, acme, campaign, ada)
    center = web.get(f"/p/{preferences_token(gov.secret_key, acme.tenant.id, message)}").text
    for said in (own["controller"], own["dpo"], own["complaint"]):
        assert html.escape(said) in center, said

    too_long = web.put("/v1/branding", json={**own, "dpo": "x" * 501}, headers=acme.headers)
    assert too_long.status_code == 422
    assert web.get("/v1/branding", headers=acme.headers).json()["dpo"] == own["dpo"]
