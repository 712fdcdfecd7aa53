"""Storage limitation (Art. 5(1)(e)) run by the engine's retention job: unconfirmed
sign-ups forgotten after N days, people who left reduced after M months to the
suppression hash and the consent ledger; named in the dry run first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from courriel.audience.models import ConsentAction, ConsentRecord, ConsentSource, Contact
from courriel.audience.service import ConsentInput, ContactInput
from courriel.config import Settings
from courriel.core.addresses import tenant_address_hash
from courriel.core.clock import FrozenClock
from courriel.services import Services
from courriel.web.app import create_app
from tests.support.databases import Templates, build_services
from tests.support.delivery import fast_profiles
from tests.support.tenants import TenantAccess, make_tenant

PENDING = "pending.person@gmail.test"
LEAVER = "leaver@gmail.test"
STAYER = "stayer@gmail.test"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


@pytest.fixture
def gov(settings: Settings, templates: Templates, clock: FrozenClock) -> Iterator[Services]:
    fast = settings.model_copy(update={"throttle_profiles": fast_profiles()})
    built = build_services(fast, templates, clock)
    yield built
    built.close()


@pytest.fixture
def web(gov: Services) -> Iterator[TestClient]:
    with TestClient(create_app(gov)) as test_client:
        yield test_client


@pytest.fixture
def acme(gov: Services) -> TenantAccess:
    return make_tenant(gov, "Acme")


def _join(gov: Services, who: TenantAccess, list_id: str, email: str, *, confirmed: bool) -> str:
    result = gov.audience.subscribe(
        who.operator,
        ContactInput(email=email, first_name="Someone"),
        [list_id],
        ConsentInput(source=ConsentSource.API, purpose_text="letter", confirmed=confirmed),
    )
    return result.contact.id


def test_unconfirmed_are_forgotten_and_leavers_reduced_by_the_engine(
    gov: Services, web: TestClient, acme: TenantAccess, clock: FrozenClock
) -> None:
    tid = acme.tenant.id
    h = acme.headers
    letter = web.post(
        "/v1/lists", json={"name": "Letter", "double_opt_in": True}, headers=h
    ).json()["id"]
    defaults = web.put("/v1/privacy/retention/defaults", json={"pending_days": 7}, headers=h)
    assert defaults.status_code == 200, defaults.text
    rules = {"ended_months": 6}
    assert (
        web.put(f"/v1/privacy/lists/{letter}/governance", json=rules, headers=h).json()[
            "ended_months"
        ]
        == 6
    )
    bad = web.put("/v1/privacy/retention/defaults", json={"pending_days": 0}, headers=h)
    assert bad.status_code == 422
    assert "pending_days" in bad.text
    pending = _join(gov, acme, letter, PENDING, confirmed=False)
    leaver = _join(gov, acme, letter, LEAVER, confirmed=True)
    stayer = _join(gov, acme, letter, STAYER, confirmed=True)
    gone = web.delete(f"/v1/lists/{letter}/contacts/{leaver}", headers=h)
    assert gone.status_code in (200, 204), gone.text

    clock.advance(days=8)
    report = web.get("/v1/privacy/retention/report", headers=h).json()["data"]
    assert {(r["email"], r["action"]) for r in report} == {(PENDING, "forget")}
    clock.advance(days=190)
    report = web.get("/v1/privacy/retention/report", headers=h).json()["data"]
    assert {(r["email"], r["reason"], r["action"]) for r in report} == {
        (PENDING, "unconfirmed", "forget"),
        (LEAVER, "ended", "reduce"),
    }

    # The engine's periodic job.
    done = gov.repermissions.run_all()
    assert (done.forgotten, done.reduced) == (1, 1)
    assert gov.repermissions.run_all().reduced == 0

    with gov.storage.tenant(tid)() as session:
        assert session.get(Contact, pending) is None
        assert (
            session.scalar(
                select(func.count())
                .select_from(ConsentRecord)
                .where(ConsentRecord.contact_id == pending)
            )
            == 0
        )
        reduced = session.get(Contact, leaver)
        assert reduced is not None
        assert reduced.email.endswith("@anonymized.invalid")
        assert reduced.first_name is None
        ledger = [
            r.action
            for r in session.scalars(
                select(ConsentRecord).where(ConsentRecord.contact_id == leaver)
            )
        ]
        assert ConsentAction.WITHDRAWN in ledger
        assert session.get(Contact, stayer) is not None
    assert gov.audience.suppressions.is_suppressed(acme.operator, LEAVER)
    assert not gov.audience.suppressions.is_suppressed(acme.operator, PENDING)
    listed = web.get("/v1/suppressions", headers=h).json()["data"]
    assert [s["address_hash"] for s in listed] == [tenant_address_hash(gov.secret_key, tid, LEAVER)]
    actions = [
        e["action"]
        for e in web.get("/v1/audit", params={"actor": "retention"}, headers=h).json()["data"]
    ]
    assert {"retention.forget", "retention.reduce"} <= set(actions)
    # The person who left cannot be put back by the API; the one forgotten can sign up anew.
    again = web.post(
        "/v1/contacts",
        json={
            "email": LEAVER,
            "lists": [letter],
            "consent": {"source": "api", "purpose_text": "letter"},
        },
        headers=h,
    )
    assert again.status_code == 201, again.text
    assert again.json()["subscriptions"][letter] == "suppressed"
