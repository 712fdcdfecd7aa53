"""View online: a campaign message as a web page, as its recipient saw it.

`{{ view_online_url }}` carries a signed token naming (tenant, message). The
page re-renders that message from the campaign's frozen template version for
the same contact, with the same composer as fan-out, so it shows their
personalization; links and the open pixel are tracked only when the message
itself was (the campaign, its lists and the contact allow tracking).
A person whose data is erased, or a message that is not a campaign's, has
no page.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from courriel.audience.models import Contact
from courriel.campaigns.fanout import campaign_composer, recipient_of
from courriel.campaigns.models import Campaign, CampaignRecipient
from courriel.config import Settings
from courriel.content.links import verify_view_online_token
from courriel.content.models import TemplateVersion
from courriel.content.render import RenderError
from courriel.core.errors import NotFoundError
from courriel.core.storage import Storage


@dataclass(frozen=True)
class OnlineMessage:
    """What the view-online page shows."""

    subject: str
    html: str


class ViewOnline:
    """Campaign messages as web pages, reached by their view-online token."""

    def __init__(self, storage: Storage, settings: Settings, secret_key: bytes) -> None:
        self._storage = storage
        self._settings = settings
        self._key = secret_key

    def message(self, token: str) -> OnlineMessage | None:
        """The message a token names, rendered for its recipient; None if there is none."""
        ref = verify_view_online_token(self._key, token)
        if ref is None:
            return None
        try:
            sessions = self._storage.tenant(ref.tenant_id)
        except NotFoundError:
            return None
        with sessions() as session:
            found = self._parts(session, ref.message_id)
            if found is None:
                return None
            campaign, contact, version = found
            # Not signed: a page is not a message.
            composer = campaign_composer(
                session, self._settings, self._key, ref.tenant_id, campaign, version, ()
            )
            try:
                content, _context = composer.render(recipient_of(ref.message_id, contact, version))
            except RenderError:
                return None
        return OnlineMessage(subject=content.subject, html=content.html)

    @staticmethod
    def _parts(
        session: Session, message_id: str
    ) -> tuple[Campaign, Contact, TemplateVersion] | None:
        recipient = session.get(CampaignRecipient, message_id)
        if recipient is None or recipient.contact_id is None:
            return None
        campaign = session.get(Campaign, recipient.campaign_id)
        contact = session.get(Contact, recipient.contact_id)
        if campaign is None or contact is None:
            return None
        version = session.get(TemplateVersion, campaign.template_version_id)
        return None if version is None else (campaign, contact, version)
