"""The demo scenario: a tenant, an admin who can sign in, a list of consenting
contacts, a template, a campaign.

Used by `courriel demo` (which also sends it and waits for the outcome) and by
`courriel serve --seed-demo` on a first start. Some contacts' addresses name
what their simulated recipient does (`open-`, `click-`: sandbox/recipients.py),
so once the campaign is sent the dashboard and the statistics show opens and
clicks, not only deliveries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from dataclasses import dataclass

from courriel.audience.models import ConsentSource
from courriel.audience.service import ConsentInput, ContactInput
from courriel.core.principal import Principal
from courriel.services import Services
from courriel.tracking.service import CampaignStats

DEMO_CONTACTS = (
    ("Ada", "Lovelace", "ada@gmail.test"),
    ("Grace", "Hopper", "open-grace@yahoo.test"),
    ("Alan", "Turing", "click-alan@outlook.test"),
    ("Katherine", "Johnson", "open-katherine@example.test"),
    ("Edsger", "Dijkstra", "click-edsger@googlemail.test"),
    ("Barbara", "Liskov", "open-barbara@ymail.test"),
    ("Donald", "Knuth", "donald@hotmail.test"),
    ("Frances", "Allen", "frances@example.org.test"),
)

DEMO_HTML = """<html><body>
<h1>Hello {{ contact.first_name }}!</h1>
<p>Welcome to the Courriel demo. This message was rendered for you alone,
{{ contact.first_name }} {{ contact.last_name }}.</p>
<p><a href="https://courriel.test/docs">Read the docs</a></p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a> ·
<a href="{{ preferences_url }}">Preferences</a></p>
</body></html>"""

DEMO_DOMAIN = "demo.courriel.test"
DEMO_ADMIN = f"admin@{DEMO_DOMAIN}"
PURPOSE = "Monthly news about Courriel. Unsubscribe at any time."


@dataclass(frozen=True)
class DemoSeed:
    """What the demo created."""

    tenant_id: str
    api_key: str
    list_id: str
    template_id: str
    campaign_id: str
    recipients: tuple[str, ...]
    # The key's id: the user name of HTTP Basic (Mailjet clients) and SMTP AUTH.
    api_key_id: str = ""
    # The demo admin's sign-in to the web application (the password is shown once).
    admin_email: str = ""
    admin_password: str = ""


def seed_demo(services: Services) -> DemoSeed:
    """Create the demo tenant and its data (the campaign stays a draft)."""
    tenant = services.tenants.create("Demo company")
    operator = Principal.operator(tenant.id)
    key = services.api_keys.create(operator, "demo key")
    admin_password = _demo_admin(services, operator)
    mailing_list = services.audience.create_list(
        operator, "Newsletter", purpose=PURPOSE, double_opt_in=False
    )
    consent = ConsentInput(
        source=ConsentSource.API,
        purpose_text=f"[ ] Yes, send me the newsletter. {PURPOSE}",
        ip="192.0.2.10",
        user_agent="courriel-demo",
    )
    for first, last, email in DEMO_CONTACTS:
        services.audience.subscribe(
            operator,
            ContactInput(email=email, first_name=first, last_name=last),
            [mailing_list.id],
            consent,
        )
    template, _version = services.templates.create(
        operator, "Welcome", "Welcome, {{ contact.first_name }}", DEMO_HTML
    )
    # The demo's domain is added and verified as any sender's would be, so
    # it has DKIM keys and its mail is signed.
    services.sender_domains.add(operator, DEMO_DOMAIN)
    services.sender_domains.verify(operator, DEMO_DOMAIN)
    campaign = services.campaigns.create(
        operator,
        name="Welcome campaign",
        template_id=template.id,
        list_ids=[mailing_list.id],
        from_email=f"news@{DEMO_DOMAIN}",
        from_name="Courriel Démo",
    )
    return DemoSeed(
        tenant_id=tenant.id,
        api_key=key.secret,
        list_id=mailing_list.id,
        template_id=template.id,
        campaign_id=campaign.id,
        recipients=tuple(email for _f, _l, email in DEMO_CONTACTS),
        api_key_id=key.id,
        admin_email=DEMO_ADMIN,
        admin_password=admin_password,
    )


def _demo_admin(services: Services, operator: Principal) -> str:
    """An admin of the demo tenant with a random password of their own; the password.

    The user's one-time password is changed at once (through the same policy
    as anyone's), so the demo's first sign-in lands on the dashboard.
    """
    created = services.users.create(operator, DEMO_ADMIN, "admin", "Demo admin")
    assert created.one_time_password is not None  # an active user gets one
    password = "-".join(secrets.token_urlsafe(6) for _ in range(3))
    services.credentials.change(created.user.id, created.one_time_password, password)
    return password


async def send_and_wait(
    services: Services, seed: DemoSeed, patience: dt.timedelta
) -> CampaignStats:
    """Send the demo campaign and deliver it until every message has its fate."""
    operator = Principal.operator(seed.tenant_id)
    services.campaigns.send(operator, seed.campaign_id)
    scheduler = services.scheduler()
    worker = services.worker()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience.total_seconds()
    while loop.time() < deadline:
        await asyncio.to_thread(scheduler.drain)
        await worker.run_once()
        stats = services.stats.campaign(operator, seed.campaign_id)
        final = sum(stats.counts[k] for k in ("delivered", "bounced", "blocked", "expired"))
        if stats.status == "sent" and final >= stats.counts["queued"]:
            return stats
        await asyncio.sleep(0.05)
    raise TimeoutError("the demo campaign did not finish in time")
