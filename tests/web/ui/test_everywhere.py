"""Every page of the application, opened by users whose rights are narrow: a user
without the right to see addresses sees none, anywhere; a user limited to one
list sees nothing of another, anywhere, not even by typing its URL.

Pages are discovered from the application's routes, so a page added later is
checked too; path parameters are filled with the ids of both lists' objects.
The same walk as an admin must show what the narrow users may not see, so
the checks can fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from courriel.services import Services
from courriel.web.app import create_app
from courriel.web.routing import get_paths
from tests.support.people import PASSWORD, csrf_of, make_user
from tests.support.seeds.rights import add_person, make_campaign, make_list
from tests.support.tenants import TenantAccess

ALICE, BOB = "alice.alpha@gmail.test", "bob.beta@gmail.test"
_PARAM = re.compile(r"\{([a-z_]+)(?::[a-z]+)?\}")
# Pages that change state on GET do not exist; these answer downloads or fragments.
SKIPPED_PREFIXES = ("/app/sign-in", "/app/sign-out", "/app/invitation", "/app/password-reset")


@dataclass
class World:
    """Two lists, a person on each, a campaign to each."""

    ids: dict[str, list[str]] = field(default_factory=dict)
    beta_words: tuple[str, ...] = ()


@pytest.fixture
def world(client: TestClient, tenant_a: TenantAccess) -> World:
    alpha = make_list(client, tenant_a, "Alpha readers")
    beta = make_list(client, tenant_a, "Beta readers")
    alice = add_person(client, tenant_a, alpha, ALICE, "Alicia")
    bob = add_person(client, tenant_a, beta, BOB, "Roberto")
    alpha_campaign = make_campaign(client, tenant_a, alpha, "Alpha launch")
    beta_campaign = make_campaign(client, tenant_a, beta, "Beta launch")
    ids = {
        "list_id": [alpha, beta],
        "contact_id": [alice, bob],
        "campaign_id": [alpha_campaign, beta_campaign],
    }
    # (The campaign's template has its name too, and templates belong to the
    # whole tenant: the campaign is checked by its pages answering 404.)
    return World(ids=ids, beta_words=(BOB, "Roberto", "Beta readers"))


def pages(services: Services, world: World) -> Iterator[str]:
    """Every GET page under /app, its parameters filled from `world`."""
    for path in get_paths(create_app(services), "/app"):
        if path.startswith(SKIPPED_PREFIXES):
            continue
        if path.endswith((".js", ".csv")):
            continue
        names = _PARAM.findall(path)
        if not names:
            yield path
            continue
        if len(names) > 1 or names[0] not in world.ids:
            continue  # Nested pages are reached from their parent page's links.
        for value in world.ids[names[0]]:
            yield _PARAM.sub(value, path)


def signed_in(services: Services, email: str) -> TestClient:
    browser = TestClient(create_app(services), base_url="http://testserver")
    page = browser.get("/app/sign-in")
    answer = browser.post(
        "/app/sign-in",
        data={"email": email, "password": PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return browser


def walk(services: Services, world: World, email: str) -> dict[str, tuple[int, str]]:
    """Each page's status and body as `email` sees it."""
    browser = signed_in(services, email)
    seen: dict[str, tuple[int, str]] = {}
    for path in pages(services, world):
        response = browser.get(path, headers={"accept": "text/html"})
        assert response.status_code in (200, 403, 404), f"{path}: {response.status_code}"
        seen[path] = (response.status_code, response.text)
    return seen


def test_the_admin_sees_what_the_narrow_users_may_not(
    services: Services, tenant_a: TenantAccess, world: World
) -> None:
    make_user(services, tenant_a, "boss@example.test", "admin")
    seen = "\n".join(body for _, body in walk(services, world, "boss@example.test").values())
    assert len(list(pages(services, world))) >= 2
    # The admin's pages show the campaigns; once pages of contacts exist, the people too.
    assert "Beta launch" in seen


def test_a_user_without_the_address_right_sees_no_address_anywhere(
    services: Services, tenant_a: TenantAccess, world: World
) -> None:
    make_user(services, tenant_a, "numbers@example.test", "analyst")
    for path, (_, body) in walk(services, world, "numbers@example.test").items():
        for secret in (ALICE, BOB, "Alicia", "Roberto"):
            assert secret not in body, f"{path} shows {secret!r}"


def test_a_user_limited_to_one_list_sees_nothing_of_another(
    services: Services, tenant_a: TenantAccess, world: World
) -> None:
    user = make_user(services, tenant_a, "alpha.only@example.test", "marketer")
    services.roles.set_rights(tenant_a.operator, user.id, [world.ids["list_id"][0]])
    beta_ids = [ids[1] for ids in world.ids.values()]
    for path, (status, body) in walk(services, world, "alpha.only@example.test").items():
        for secret in world.beta_words:
            assert secret not in body, f"{path} shows {secret!r}"
        if any(beta in path for beta in beta_ids):
            assert status in (403, 404), f"{path} answers {status}"
