"""The re-permission email: composed by the content pipeline, queued in the spool.

The message is built like any other (sandboxed template, MIME, DKIM when the
sender domain has keys) but is neither tracked nor marketing: an open counted
from it would itself look like the activity it asks about, and it carries no
List-Unsubscribe because doing nothing already ends the subscription.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from courriel.config import Settings
from courriel.content.compose import Composer, Recipient, SendContext, Sender, contact_context
from courriel.content.dkimkeys import DkimKeyService
from courriel.content.mailer import Mailer, SystemMail
from courriel.content.service import TemplateContent, build_version

SUBJECT = "Do you still want to receive {{ list.name }}?"
HTML = """<!doctype html><html><body>
<p>Hello{% if contact.first_name %} {{ contact.first_name }}{% endif %},</p>
<p>You are subscribed to <strong>{{ list.name }}</strong>{% if list.purpose %}:
{{ list.purpose }}{% endif %}.</p>
<p>{{ list.why }} Please tell us whether you still want it.</p>
<p><a href="{{ contact.reconfirm_url }}">Yes, keep me subscribed</a></p>
<p>If you do nothing, you will stop receiving it after {{ list.deadline }}.</p>
</body></html>"""
TEXT = """Hello{% if contact.first_name %} {{ contact.first_name }}{% endif %},

You are subscribed to {{ list.name }}{% if list.purpose %}: {{ list.purpose }}{% endif %}.
{{ list.why }} Please tell us whether you still want it.

Yes, keep me subscribed:
{{ contact.reconfirm_url }}

If you do nothing, you will stop receiving it after {{ list.deadline }}.
"""
WHY = {
    "inactive": "We have not seen you open or click our emails for a long time.",
    "consent-expired": "You gave your consent a long time ago.",
}


@dataclass(frozen=True)
class RepermissionMail:
    """One re-permission email to send."""

    tenant_id: str
    message_id: str
    contact_id: str
    email: str
    first_name: str | None
    reason: str
    confirm_url: str


class RepermissionMailer:
    """Composes re-permission emails for one list and puts them in the spool."""

    def __init__(
        self, settings: Settings, mailer: Mailer, dkim_keys: DkimKeyService, secret_key: bytes
    ) -> None:
        self._settings = settings
        self._mailer = mailer
        self._dkim_keys = dkim_keys
        self._key = secret_key

    def send(
        self,
        mails: list[RepermissionMail],
        *,
        list_name: str,
        purpose: str,
        deadline: dt.datetime,
        now: dt.datetime,
    ) -> None:
        """Compose and spool `mails` (all of one tenant and list)."""
        if not mails:
            return
        domain = self._settings.return_path_domain
        version, _links = build_version(
            "tpl_repermission", 1, TemplateContent(subject=SUBJECT, html=HTML, text=TEXT), now
        )
        by_reason: dict[str, Composer] = {}
        messages = []
        for mail in mails:
            composer = by_reason.get(mail.reason)
            if composer is None:
                composer = Composer(
                    version,
                    Sender(email=f"privacy@{domain}", name=list_name, return_path_domain=domain),
                    SendContext(
                        tenant_id=mail.tenant_id,
                        public_url=self._settings.public_url,
                        secret_key=self._key,
                        mailing_list={
                            "name": list_name,
                            "purpose": purpose,
                            "why": WHY[mail.reason],
                            "deadline": deadline.strftime("%d %B %Y"),
                        },
                        marketing=False,
                        tracking=False,
                    ),
                    self._dkim_keys.signers(mail.tenant_id, domain),
                )
                by_reason[mail.reason] = composer
            # The link is per person, so it travels as a contact variable; the
            # contact's own properties are not needed by this message.
            values = {"email": mail.email, "first_name": mail.first_name}
            recipient = Recipient(
                message_id=mail.message_id,
                email=mail.email,
                name=mail.first_name or "",
                contact=contact_context(values, {"reconfirm_url": mail.confirm_url}, {}),
                tracking=False,
            )
            messages.append(
                SystemMail(
                    tenant_id=mail.tenant_id,
                    message_id=mail.message_id,
                    to=mail.email,
                    body=composer.compose(recipient, now),
                    contact_id=mail.contact_id,
                    transfer_ready=True,
                )
            )
        self._mailer.send(messages, now)
