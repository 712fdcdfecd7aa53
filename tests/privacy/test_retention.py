"""Retention and consent expiry, end to end through the sandbox internet on a frozen clock."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from courriel.audience.models import ConsentSource
from courriel.audience.service import ConsentInput, ContactInput
from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.core.db import transaction
from courriel.core.principal import Principal
from courriel.core.tokens import sign
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.privacy.repermission_rules import months_before
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from courriel.web.app import create_app
from tests.support.databases import Templates, build_services
from tests.support.delivery import deliver_all, fast_profiles
from tests.support.tenants import TenantAccess, make_tenant

LINK = re.compile(r"https?://\S+/r/reconfirm\?token=\S+")


@pytest.fixture
def clock() -> FrozenClock:
    # Real time, standing still: the spool and tokens live on the same clock as the test.
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


def _list(web: TestClient, who: TenantAccess, name: str, rules: dict[str, object]) -> str:
    created = web.post(
        "/v1/lists",
        json={"name": name, "purpose": f"{name} every month", "double_opt_in": False},
        headers=who.headers,
    )
    list_id = str(created.json()["id"])
    response = web.put(f"/v1/privacy/lists/{list_id}/governance", json=rules, headers=who.headers)
    assert response.status_code == 200, response.text
    return list_id


def _subscribe(gov: Services, who: TenantAccess, list_id: str, email: str) -> str:
    result = gov.audience.subscribe(
        who.operator,
        ContactInput(email=email, first_name=email.split("@", maxsplit=1)[0].title()),
        [list_id],
        ConsentInput(source=ConsentSource.API, purpose_text="monthly letter"),
    )
    return result.contact.id


def _status(web: TestClient, who: TenantAccess, contact_id: str) -> dict[str, str]:
    found: dict[str, str] = web.get(
        f"/v1/contacts/{contact_id}/subscriptions", headers=who.headers
    ).json()
    return found


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def _token(web: TestClient, sandbox: Sandbox, address: str) -> str:
    inbox = sandbox.store.inbox(address)
    assert len(inbox) == 1, address
    assert inbox[0].subject.startswith("Do you still want to receive")
    link = LINK.search(inbox[0].text)
    assert link is not None
    page = web.get(_path(link.group(0)))
    assert page.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token is not None
    return token.group(1)


def _confirm(web: TestClient, token: str) -> int:
    response = web.post("/r/reconfirm", data={"token": token}, headers={"User-Agent": "Browser"})
    status: int = response.status_code
    return status


def test_consent_expiry_and_inactivity_through_the_sandbox(
    gov: Services, web: TestClient, acme: TenantAccess, clock: FrozenClock, sandbox: Sandbox
) -> None:
    letter = _list(web, acme, "Letter", {"consent_months": 12, "confirm_days": 14})
    offers = _list(
        web,
        acme,
        "Offers",
        {"inactive_months": 6, "inactive_outcome": "anonymize", "confirm_days": 14},
    )
    keep = _subscribe(gov, acme, letter, "keep@gmail.test")
    lapse = _subscribe(gov, acme, letter, "lapse@gmail.test")
    active = _subscribe(gov, acme, offers, "active@example.test")
    idle = _subscribe(gov, acme, offers, "idle@example.test")
    gone = _subscribe(gov, acme, offers, "gone@example.test")

    clock.advance(days=400)
    with transaction(gov.storage.tenant(acme.tenant.id)) as session:
        record_events(
            session,
            [NewEvent(EventType.OPENED, clock.now() - dt.timedelta(days=10), contact_id=active)],
        )
    # The dry run names who would be asked, and sends nothing.
    report = web.get("/v1/privacy/retention/report", headers=acme.headers).json()["data"]
    planned = {(r["email"], r["reason"], r["action"]) for r in report}
    assert planned == {
        ("keep@gmail.test", "consent-expired", "send-repermission"),
        ("lapse@gmail.test", "consent-expired", "send-repermission"),
        ("idle@example.test", "inactive", "send-repermission"),
        ("gone@example.test", "inactive", "send-repermission"),
    }
    assert gov.spool.pending_count() == 0

    # The engine's periodic job.
    done = gov.repermissions.run_all()
    assert done.sent == 4
    assert gov.repermissions.run_all().sent == 0  # asked once, not at every run
    deliver_all(gov)
    assert sandbox.store.inbox("active@example.test") == []
    for address in ("keep@gmail.test", "idle@example.test"):
        assert _confirm(web, _token(web, sandbox, address)) == 200
    late = _token(web, sandbox, "lapse@gmail.test")
    ledger = web.get(f"/v1/contacts/{keep}/consent", headers=acme.headers).json()
    assert ledger[-1]["action"] == "reconfirmed"
    assert ledger[-1]["user_agent"] == "Browser"

    clock.advance(days=13)
    assert gov.repermissions.run_all().suppressed == 0  # not before the deadline
    clock.advance(days=2)
    lapsed = gov.repermissions.run_all()
    assert (lapsed.suppressed, lapsed.anonymized, lapsed.removed) == (1, 1, 0)
    assert _status(web, acme, keep) == {letter: "subscribed"}
    assert _status(web, acme, lapse) == {letter: "suppressed"}
    assert _status(web, acme, idle) == {offers: "subscribed"}
    assert _status(web, acme, active) == {offers: "subscribed"}
    assert _status(web, acme, gone) == {}
    anonymous = web.get(f"/v1/contacts/{gone}", headers=acme.headers).json()
    assert anonymous["email"].endswith("@anonymized.invalid")
    assert anonymous["first_name"] is None
    # The unanswered link is dead now.
    assert _confirm(web, late) == 404
    assert web.get("/v1/audit/verify", headers=acme.headers).json()["ok"] is True
    actions = [
        e["action"]
        for e in web.get("/v1/audit", params={"actor": "retention"}, headers=acme.headers).json()[
            "data"
        ]
    ]
    assert actions.count("retention.repermission_sent") == 4
    assert {"retention.suppress", "retention.anonymize"} <= set(actions)


def test_remove_outcome_and_bad_links(
    gov: Services, web: TestClient, acme: TenantAccess, clock: FrozenClock, sandbox: Sandbox
) -> None:
    news = _list(web, acme, "News", {"inactive_months": 3, "confirm_days": 7})
    quiet = _subscribe(gov, acme, news, "quiet@gmail.test")
    clock.advance(days=100)
    assert gov.repermissions.run(acme.operator).sent == 1
    deliver_all(gov)
    token = _token(web, sandbox, "quiet@gmail.test")
    body, _, mac = token.partition(".")
    assert _confirm(web, body + "." + mac[::-1]) == 404  # tampered
    assert _confirm(web, "forged") == 404
    # A genuine token for another purpose (a sign-up confirmation) does nothing here.
    other = sign(
        gov.secret_key, "signup-confirm", {"t": acme.tenant.id}, clock.now() + dt.timedelta(days=1)
    )
    assert _confirm(web, other) == 404
    clock.advance(days=8)
    assert _confirm(web, token) == 404  # expired with the deadline
    assert gov.repermissions.run(acme.operator).removed == 1
    assert _status(web, acme, quiet) == {}
    ledger = web.get(f"/v1/contacts/{quiet}/consent", headers=acme.headers).json()
    assert ledger[-1]["action"] == "expired"


def test_months_are_calendar_months() -> None:
    moment = dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC)
    assert months_before(moment, 1) == dt.datetime(2026, 2, 28, 12, tzinfo=dt.UTC)
    assert months_before(moment, 15) == dt.datetime(2024, 12, 31, 12, tzinfo=dt.UTC)
    assert months_before(moment, 120).year == 2016


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"inactive_months": 0}, "inactive_months"),
        ({"inactive_months": -3}, "inactive_months"),
        ({"consent_months": 10**9}, "consent_months"),
        ({"consent_months": "soon"}, "consent_months"),
        ({"confirm_days": 0}, "confirm_days"),
        ({"inactive_outcome": "shred"}, "inactive_outcome"),
        ({"legal_basis": "because"}, "legal_basis"),
        ({"recipients": ["ok", "two\nlines"]}, "recipients.1"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_rules_name_the_field_and_change_nothing(
    web: TestClient, acme: TenantAccess, rules: dict[str, object], field: str
) -> None:
    list_id = _list(web, acme, "Kept", {"inactive_months": 6})
    response = web.put(f"/v1/privacy/lists/{list_id}/governance", json=rules, headers=acme.headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    kept = web.get(f"/v1/privacy/lists/{list_id}/governance", headers=acme.headers).json()
    assert kept["inactive_months"] == 6


def test_unknown_list_and_other_tenants(
    gov: Services, web: TestClient, acme: TenantAccess, clock: FrozenClock
) -> None:
    other = make_tenant(gov, "Other")
    list_id = _list(web, acme, "Private", {"inactive_months": 1})
    _subscribe(gov, acme, list_id, "person@gmail.test")
    clock.advance(days=40)
    assert len(web.get("/v1/privacy/retention/report", headers=acme.headers).json()["data"]) == 1
    for path in (
        f"/v1/privacy/lists/{list_id}/governance",
        "/v1/privacy/lists/lst_nothing/governance",
    ):
        response = web.get(path, headers=other.headers)
        assert response.status_code == 404
    put = web.put(
        f"/v1/privacy/lists/{list_id}/governance",
        json={"inactive_months": 2},
        headers=other.headers,
    )
    assert put.status_code == 404
    assert (
        web.get(
            "/v1/privacy/retention/report", params={"list_id": list_id}, headers=other.headers
        ).status_code
        == 404
    )
    assert web.get("/v1/privacy/retention/report", headers=other.headers).json()["data"] == []
    assert web.post("/v1/privacy/retention/run", headers=other.headers).json()["sent"] == 0
    assert gov.spool.pending_count() == 0
    reader = Principal(other.tenant.id, frozenset(), "key:none")
    with pytest.raises(Exception, match="lacks the capability"):
        gov.repermissions.report(reader)
