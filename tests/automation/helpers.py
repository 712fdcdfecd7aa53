"""Building blocks of automation tests: lists, contacts, templates, runs of the engine."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import deliver_all

CONSENT = {"source": "api", "purpose_text": "Yes, send me news", "ip": "192.0.2.1"}
FROM = "news@acme.test"


def make_list(client: TestClient, h: dict[str, str], name: str = "News") -> str:
    response = client.post("/v1/lists", json={"name": name, "double_opt_in": False}, headers=h)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def make_template(client: TestClient, h: dict[str, str], subject: str, body: str = "") -> str:
    html = (
        f"<p>{body or subject} for {{{{ contact.first_name }}}}</p>"
        '<p><a href="https://shop.example.test/offer">Offer</a></p>'
        '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
    )
    response = client.post(
        "/v1/templates", json={"name": subject, "subject": subject, "html": html}, headers=h
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def add_contact(
    client: TestClient,
    h: dict[str, str],
    email: str,
    lists: list[str],
    **fields: Any,
) -> str:
    body: dict[str, Any] = {"email": email, "first_name": email.partition("@")[0].title()}
    body.update(fields)
    body["lists"] = lists
    body["consent"] = CONSENT
    response = client.post("/v1/contacts", json=body, headers=h)
    assert response.status_code == 201, response.text
    return str(response.json()["contact"]["id"])


def make_workflow(
    client: TestClient,
    h: dict[str, str],
    definition: dict[str, Any],
    name: str = "Flow",
    *,
    activate: bool = True,
) -> str:
    response = client.post(
        "/v1/workflows",
        json={"name": name, "definition": {"from_email": FROM, **definition}},
        headers=h,
    )
    assert response.status_code == 201, response.text
    workflow_id = str(response.json()["id"])
    if not activate:
        return workflow_id
    activated = client.post(f"/v1/workflows/{workflow_id}/activate", headers=h)
    assert activated.status_code == 200, activated.text
    assert activated.json()["status"] == "active"
    return workflow_id


def run(services: Services) -> None:
    """One engine drained (triggers and due steps), then delivery to the sandbox."""
    services.automation().drain()
    deliver_all(services)


def subjects(sandbox: Sandbox, email: str) -> list[str]:
    return sorted(m.subject for m in sandbox.store.inbox(email))


def stats(client: TestClient, h: dict[str, str], workflow_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/workflows/{workflow_id}/stats", headers=h)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body["by_step"] = {s["key"]: s["figures"] for s in body["steps"]}
    return body


def click(
    client: TestClient, services: Services, sandbox: Sandbox, email: str, subject: str, url: str
) -> None:
    """The person clicks the link to `url` in the message `subject`, as a browser would."""
    (message,) = [m for m in sandbox.store.inbox(email) if m.subject == subject]
    part = message.as_email().get_body(preferencelist=("html",))
    assert part is not None
    html = str(part.get_content())
    for start in (i for i in range(len(html)) if html.startswith("/t/c/", i)):
        path = html[start : html.index('"', start)]
        response = client.get(path, follow_redirects=False, headers={"User-Agent": BROWSER})
        if response.headers.get("location") == url:
            services.tracker.flush()
            return
    raise AssertionError(f"no link to {url} in {subject!r}")


BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0"
OFFER = "https://shop.example.test/offer"
