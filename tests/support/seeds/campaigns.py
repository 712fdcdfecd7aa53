"""Lists of subscribed contacts and draft campaigns, for campaign, policy and sandbox tests.

Contacts are written straight into the tenant database (a real one) so a test
can have thousands of them quickly; campaigns go through the use cases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select

from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    ConsentSource,
    Contact,
    MailingList,
    Subscription,
    SubscriptionStatus,
)
from courriel.campaigns.models import CampaignRecipient, MailClass
from courriel.core.db import transaction
from courriel.core.ids import new_id
from courriel.delivery.models import SpoolMessage
from courriel.services import Services
from tests.support.tenants import TenantAccess

UNSUBSCRIBE = '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


def seed_list(
    services: Services,
    tenant: TenantAccess,
    emails: Sequence[str],
    *,
    status: SubscriptionStatus = SubscriptionStatus.SUBSCRIBED,
    timezones: dict[str, str] | None = None,
    list_id: str | None = None,
    name: str = "News",
) -> str:
    """A list (new, or `list_id`) with these contacts on it; returns the list id."""
    now = dt.datetime.now(dt.UTC)
    with transaction(services.storage.tenant(tenant.tenant.id)) as session:
        if list_id is None:
            list_id = new_id("lst")
            session.add(MailingList(id=list_id, name=name, double_opt_in=False, created_at=now))
            session.flush()
        rows = session.execute(select(Contact.email, Contact.id).where(Contact.email.in_(emails)))
        known: dict[str, str] = {row.email: row.id for row in rows}
        for email in emails:
            contact_id = known.get(email)
            if contact_id is None:
                contact_id = new_id("con")
                session.add(
                    Contact(
                        id=contact_id,
                        email=email,
                        email_domain=email.rpartition("@")[2],
                        timezone=(timezones or {}).get(email),
                        properties={},
                        created_at=now,
                        updated_at=now,
                    )
                )
                session.flush()
            session.add(
                Subscription(
                    list_id=list_id,
                    contact_id=contact_id,
                    status=status,
                    created_at=now,
                    updated_at=now,
                )
            )
    return list_id


def record_consent(
    services: Services, tenant: TenantAccess, email: str, list_id: str, action: ConsentAction
) -> None:
    """Append a consent ledger entry for a contact on a list."""
    with transaction(services.storage.tenant(tenant.tenant.id)) as session:
        contact_id = session.scalar(select(Contact.id).where(Contact.email == email))
        assert contact_id is not None
        session.add(
            ConsentRecord(
                contact_id=contact_id,
                list_id=list_id,
                action=action,
                source=ConsentSource.ADMIN,
                legal_basis="consent",
                purpose_text="News",
                principal="operator",
                occurred_at=dt.datetime.now(dt.UTC),
            )
        )


def make_campaign(
    services: Services,
    tenant: TenantAccess,
    list_ids: Sequence[str],
    *,
    mail_class: MailClass = MailClass.MARKETING,
    from_email: str = "news@acme.test",
    subject: str = "Spring news",
    html: str = "<p>Hello {{ contact.email }}, our spring collection is here.</p>",
) -> str:
    """A draft campaign with a template of its own; returns the campaign id."""
    template, _version = services.templates.create(
        tenant.operator, "Spring", subject, html + UNSUBSCRIBE
    )
    campaign = services.campaigns.create(
        tenant.operator,
        name="Spring",
        template_id=template.id,
        list_ids=list(list_ids),
        from_email=from_email,
        mail_class=mail_class,
    )
    return campaign.id


def recipients(services: Services, tenant: TenantAccess, campaign_id: str) -> list[str]:
    """The contact emails a campaign has a message for (one entry per message)."""
    with services.storage.tenant(tenant.tenant.id)() as session:
        return list(
            session.scalars(
                select(Contact.email)
                .join(CampaignRecipient, CampaignRecipient.contact_id == Contact.id)
                .where(CampaignRecipient.campaign_id == campaign_id)
            )
        )


def spooled(services: Services, campaign_id: str) -> list[str]:
    """Recipients of the campaign's messages waiting in the spool."""
    with services.storage.spool() as session:
        return list(
            session.scalars(
                select(SpoolMessage.rcpt_to).where(SpoolMessage.campaign_id == campaign_id)
            )
        )


def spool_size(services: Services) -> int:
    with services.storage.spool() as session:
        return int(session.scalar(select(func.count()).select_from(SpoolMessage)) or 0)
