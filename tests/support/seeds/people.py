"""One person reached through every kind of object, for the authorization tests."""

from __future__ import annotations

import datetime as dt
import secrets

from fastapi.testclient import TestClient

from courriel.core.db import transaction
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.services import Services
from tests.support.seeds.rights import add_person, fulfil, make_campaign, make_list, new_request
from tests.support.tenants import TenantAccess


def seed_person(
    client: TestClient,
    services: Services,
    owner: TenantAccess,
    email: str,
    first: str,
    last: str,
    phone: str,
) -> dict[str, str]:
    """A list of one person (with a "phone" property already defined), a campaign
    to it, a bounce event naming the address, a fulfilled access request and an
    import; the ids by the name of the path parameter that takes each."""
    h = owner.headers
    # Objects are named apart from the person, so a name is never a leak.
    label = secrets.token_hex(3)
    list_id = make_list(client, owner, f"List {label}")
    contact_id = add_person(
        client, owner, list_id, email, first, last_name=last, properties={"phone": phone}
    )
    campaign_id = make_campaign(client, owner, list_id, name=f"Spring {label}")
    templates = client.get("/v1/templates", params={"limit": 100}, headers=h).json()["data"]
    template_id = next(t["id"] for t in templates if t["name"] == f"Spring {label}")
    with transaction(services.storage.tenant(owner.tenant.id)) as session:
        record_events(
            session,
            [
                NewEvent(
                    type=EventType.BOUNCED,
                    occurred_at=dt.datetime.now(dt.UTC),
                    campaign_id=campaign_id,
                    contact_id=contact_id,
                    detail={"reply": f"550 5.1.1 <{email}>: no such user"},
                )
            ],
        )
    request = new_request(client, owner, "access", contact_id)
    fulfil(client, owner, request["id"])
    csv = f"email,first_name\n{email},{first}\nnot-an-address,{first}\n".encode()
    started = client.post(
        f"/v1/lists/{list_id}/imports",
        files={"file": ("people.csv", csv, "text/csv")},
        data={"legal_basis": "consent", "source": "customers", "confirmed": "true"},
        headers=h,
    )
    assert started.status_code in {200, 202}, started.text
    ids = {
        "list_id": list_id,
        "contact_id": contact_id,
        "campaign_id": campaign_id,
        "template_id": template_id,
        "request_id": request["id"],
        "version": "1",
        "dimension": "provider",
        # Required query parameters: the person's own address where one is asked.
        "to": email,
        "start": dt.datetime.now(dt.UTC).date().isoformat(),
        "end": dt.datetime.now(dt.UTC).date().isoformat(),
    }
    ids["import_id"] = started.json()["id"]
    return ids
