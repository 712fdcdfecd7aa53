"""A sending campaign with stored links and recipients, for the tracking tests.

Rows are written straight into the tenant database (a real one), so these
tests do not depend on how the content and campaign use cases build them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from courriel.audience.models import Contact, MailingList, Subscription, SubscriptionStatus
from courriel.campaigns.models import (
    Campaign,
    CampaignList,
    CampaignRecipient,
    CampaignStatus,
    MailClass,
    RecipientState,
)
from courriel.content.links import click_token, open_token, unsubscribe_token
from courriel.content.models import Template, TemplateLink, TemplateVersion
from courriel.core.db import transaction
from courriel.core.ids import new_id
from courriel.services import Services
from tests.support.tenants import TenantAccess

LINKS = ["https://shop.example/spring?utm=1", "javascript:alert(1)", "https://news.example/b"]


@dataclass(frozen=True)
class Seeded:
    """A campaign of one tenant, its list, and one message per contact."""

    tenant: TenantAccess
    campaign_id: str
    list_id: str
    messages: dict[str, str]  # contact email → message id
    contacts: dict[str, str]  # contact email → contact id

    def click(self, services: Services, email: str, link: int = 0) -> str:
        token = click_token(services.secret_key, self.tenant.tenant.id, self.messages[email], link)
        return f"/t/c/{token}"

    def pixel(self, services: Services, email: str) -> str:
        token = open_token(services.secret_key, self.tenant.tenant.id, self.messages[email])
        return f"/t/o/{token}.gif"

    def unsubscribe(self, services: Services, email: str) -> str:
        token = unsubscribe_token(services.secret_key, self.tenant.tenant.id, self.messages[email])
        return f"/u/{token}"


def seed_campaign(
    services: Services,
    tenant: TenantAccess,
    emails: list[str],
    *,
    no_tracking: frozenset[str] = frozenset(),
    list_name: str = "Spring news",
) -> Seeded:
    now = dt.datetime.now(dt.UTC)
    messages: dict[str, str] = {}
    contacts: dict[str, str] = {}
    with transaction(services.storage.tenant(tenant.tenant.id)) as session:
        mailing_list = MailingList(id=new_id("lst"), name=list_name, created_at=now)
        template = Template(id=new_id("tpl"), name="Spring", created_at=now)
        version = TemplateVersion(
            id=new_id("tv"),
            template_id=template.id,
            version=1,
            subject="Spring",
            html="<p>Hi</p>",
            created_at=now,
        )
        campaign = Campaign(
            id=new_id("cmp"),
            name="Spring",
            status=CampaignStatus.SENDING,
            mail_class=MailClass.MARKETING,
            template_version_id=version.id,
            from_email="news@shop.example",
            created_at=now,
        )
        session.add_all([mailing_list, template])
        session.flush()
        session.add(version)
        session.flush()
        session.add_all(
            TemplateLink(template_version_id=version.id, position=i, url=url)
            for i, url in enumerate(LINKS)
        )
        session.add(campaign)
        session.flush()
        session.add(CampaignList(campaign_id=campaign.id, list_id=mailing_list.id))
        for email in emails:
            contact = Contact(
                id=new_id("con"),
                email=email,
                email_domain=email.split("@")[1],
                no_tracking=email in no_tracking,
                created_at=now,
                updated_at=now,
            )
            session.add(contact)
            session.flush()
            session.add(
                Subscription(
                    list_id=mailing_list.id,
                    contact_id=contact.id,
                    status=SubscriptionStatus.SUBSCRIBED,
                    updated_at=now,
                )
            )
            message = CampaignRecipient(
                id=new_id("msg"),
                campaign_id=campaign.id,
                contact_id=contact.id,
                state=RecipientState.QUEUED,
                created_at=now,
            )
            session.add(message)
            messages[email] = message.id
            contacts[email] = contact.id
    return Seeded(tenant, campaign.id, mailing_list.id, messages, contacts)


DEFAULT_EMAILS = ["ann@gmail.test", "bob@yahoo.test", "cy@outlook.test"]


def seed_default(services: Services, tenant: TenantAccess) -> Seeded:
    """Three recipients; cy@outlook.test objected to tracking."""
    return seed_campaign(
        services, tenant, DEFAULT_EMAILS, no_tracking=frozenset({"cy@outlook.test"})
    )
