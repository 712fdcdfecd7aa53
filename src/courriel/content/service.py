"""Template use cases: create templates, add frozen versions, read, preview, test send."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from courriel.config import Settings
from courriel.content import headers as h
from courriel.content.compose import Composer, Recipient, SendContext, Sender, contact_context
from courriel.content.dkimkeys import DkimKeyService
from courriel.content.htmlprep import prepare_html
from courriel.content.linktracking import rewrite_links
from courriel.content.mailer import Mailer
from courriel.content.models import SourceFormat, Template, TemplateLink, TemplateVersion
from courriel.content.ports import ContactDirectory, ContactFields
from courriel.content.render import HTML_ENV, CompiledTemplate, RenderError, parse_part
from courriel.content.variables import undefined_without_default
from courriel.core.addresses import normalize_address
from courriel.core.clock import Clock
from courriel.core.db import get_or_not_found, transaction
from courriel.core.errors import ConflictError, InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.pagination import Page, paginate
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

MAX_BODY = 2_000_000
MAX_DEFAULTS = 100
_DEFAULT_KEY = re.compile(r"^(contact\.)?[A-Za-z][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class TemplateContent:
    """What an author writes for one version."""

    subject: str
    html: str | None = None
    mjml: str | None = None
    text: str | None = None
    preheader: str = ""
    sender_name: str = ""
    reply_to: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Preview:
    """A version rendered for one contact or sample data."""

    subject: str
    preheader: str
    html: str
    text: str
    # Variables this render found empty, and those a send would refuse.
    undefined: list[str]
    missing_defaults: list[str]


def _check_defaults(defaults: dict[str, Any]) -> dict[str, Any]:
    if len(defaults) > MAX_DEFAULTS:
        raise InvalidInputError("defaults", f"at most {MAX_DEFAULTS} defaults")
    for key, value in defaults.items():
        if not _DEFAULT_KEY.match(key):
            raise InvalidInputError(f"defaults.{key}", "name a variable: city or contact.city")
        if not isinstance(value, str | int | float | bool) or len(str(value)) > 1000:
            raise InvalidInputError(f"defaults.{key}", "must be a short text, number or boolean")
    return dict(defaults)


def build_version(
    template_id: str, number: int, content: TemplateContent, now: dt.datetime
) -> tuple[TemplateVersion, list[TemplateLink]]:
    """Check and compile what the author wrote; the frozen version and its trackable links."""
    h.check_one_line("subject", content.subject, 998)
    if not content.subject.strip():
        raise InvalidInputError("subject", "must not be empty")
    h.check_one_line("preheader", content.preheader, 500)
    h.check_one_line("sender_name", content.sender_name, 200)
    reply_to = normalize_address(content.reply_to, "reply_to") if content.reply_to else ""
    if (content.html is None) == (content.mjml is None):
        raise InvalidInputError("html", "give either html or mjml")
    source = content.mjml if content.mjml is not None else content.html
    assert source is not None
    field_name = "mjml" if content.mjml is not None else "html"
    if not source.strip():
        raise InvalidInputError(field_name, "must not be empty")
    if len(source) > MAX_BODY or (content.text is not None and len(content.text) > MAX_BODY):
        raise InvalidInputError(field_name, f"must be at most {MAX_BODY} characters")
    source_format = SourceFormat.MJML if content.mjml is not None else SourceFormat.HTML
    # A syntax error names the line of what the author wrote: compiled MJML
    # (and inlined CSS) put the same tag on another line.
    parse_part(HTML_ENV, source, field_name)
    html = prepare_html(source, source_format)
    # Compiling now reports syntax errors and refused filters at save time.
    tree = parse_part(HTML_ENV, html, field_name)
    urls = rewrite_links(tree).urls
    CompiledTemplate(
        content.subject, tree, content.text, preheader=content.preheader, html_source=html
    )
    version = TemplateVersion(
        id=new_id("tpv"),
        template_id=template_id,
        version=number,
        subject=content.subject,
        html=html,
        text=content.text,
        source_format=source_format,
        source=content.mjml,
        preheader=content.preheader,
        sender_name=content.sender_name.strip(),
        reply_to=reply_to,
        headers=h.validate_custom_headers(content.headers),
        defaults=_check_defaults(content.defaults),
        created_at=now,
    )
    links = [
        TemplateLink(template_version_id=version.id, position=i, url=u) for i, u in enumerate(urls)
    ]
    return version, links


class TemplateService:
    """Templates of the principal's tenant; each change is a new frozen version."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        settings: Settings | None = None,
        mailer: Mailer | None = None,
        secret_key: bytes = b"",
        dkim_keys: DkimKeyService | None = None,
        contacts: ContactDirectory | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._settings = settings
        self._mailer = mailer
        self._secret_key = secret_key
        self._dkim_keys = dkim_keys
        self._contacts = contacts

    def create(
        self,
        principal: Principal,
        name: str,
        subject: str,
        html: str | None = None,
        text: str | None = None,
        **more: Any,
    ) -> tuple[Template, TemplateVersion]:
        """Create a template with its first version (`more`: see `TemplateContent`)."""
        principal.require(Capability.TEMPLATES_WRITE)
        if not name.strip() or len(name) > 200:
            raise InvalidInputError("name", "must be 1 to 200 characters")
        now = self._clock.now()
        template = Template(id=new_id("tpl"), name=name.strip(), current_version=1, created_at=now)
        content = TemplateContent(subject=subject, html=html, text=text, **more)
        version, links = build_version(template.id, 1, content, now)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            session.add(template)
            session.flush()
            session.add(version)
            session.flush()
            session.add_all(links)
        return template, version

    def add_version(
        self, principal: Principal, template_id: str, content: TemplateContent
    ) -> tuple[Template, TemplateVersion]:
        """A new current version; versions already used by campaigns stay as they were."""
        principal.require(Capability.TEMPLATES_WRITE)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            template = session.get(Template, template_id, with_for_update=True)
            if template is None:
                raise NotFoundError(f"no template {template_id!r}")
            number = template.current_version + 1
            version, links = build_version(template.id, number, content, self._clock.now())
            session.add(version)
            session.flush()
            session.add_all(links)
            template.current_version = number
        return template, version

    def get(
        self, principal: Principal, template_id: str, version: int | None = None
    ) -> tuple[Template, TemplateVersion]:
        """A template and its current (or a given) version."""
        principal.require(Capability.TEMPLATES_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            template = get_or_not_found(session, Template, template_id, "template")
            found = session.scalar(
                select(TemplateVersion).where(
                    TemplateVersion.template_id == template_id,
                    TemplateVersion.version == (version or template.current_version),
                )
            )
        if found is None:
            raise NotFoundError(f"no version {version} of template {template_id!r}")
        return template, found

    def versions(
        self, principal: Principal, template_id: str, limit: int = 50
    ) -> list[TemplateVersion]:
        """A template's latest versions, newest first (at most `limit`)."""
        principal.require(Capability.TEMPLATES_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            get_or_not_found(session, Template, template_id, "template")
            return list(
                session.scalars(
                    select(TemplateVersion)
                    .where(TemplateVersion.template_id == template_id)
                    .order_by(TemplateVersion.version.desc())
                    .limit(limit)
                )
            )

    def list(self, principal: Principal, cursor: str | None, limit: int) -> Page[Template]:
        """The tenant's templates, a page at a time."""
        principal.require(Capability.TEMPLATES_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            return paginate(session, select(Template), Template.id, cursor, limit)

    def contact_fields(self, principal: Principal, contact_id: str, purpose: str) -> ContactFields:
        """One contact's fields for rendering, as `principal` may see them; the read is logged.

        Rendering for a person shows their data: the right to read people is
        needed besides the template's.
        """
        principal.require(Capability.CONTACTS_READ)
        found = self._contacts.fields(principal, contact_id, purpose) if self._contacts else None
        if found is None:
            raise InvalidInputError("contact_id", f"no contact {contact_id!r}")
        if found.restricted:
            # Art. 18: a restricted person's data is stored, not processed.
            raise ConflictError(
                f"contact_id: processing of contact {contact_id!r} is restricted (GDPR Art. 18)"
            )
        return found

    def _recipient(
        self,
        principal: Principal,
        *,
        version: TemplateVersion,
        message_id: str,
        contact_id: str | None,
        sample: dict[str, Any] | None,
        purpose: str = "preview",
        to: str | None = None,
    ) -> Recipient:
        if contact_id is not None:
            fields = self.contact_fields(principal, contact_id, purpose)
            values: dict[str, Any] = fields.values()
            properties = fields.properties
        else:
            sample = dict(sample or {})
            values = {
                k: sample.pop(k, None)
                for k in ("email", "first_name", "last_name", "language", "timezone")
            }
            properties = sample
        email = to or values.get("email") or "preview@example.test"
        name = " ".join(str(p) for p in (values.get("first_name"), values.get("last_name")) if p)
        return Recipient(
            message_id=message_id,
            email=email,
            name=name,
            contact=contact_context(values, properties, version.defaults),
            language=values.get("language"),
            timezone=values.get("timezone"),
            # Previews and test sends are never tracked.
            tracking=False,
        )

    def _composer(
        self,
        principal: Principal,
        version: TemplateVersion,
        from_email: str,
        from_name: str,
        *,
        marketing: bool = True,
    ) -> Composer:
        settings = self._settings
        public_url = settings.public_url if settings else "http://127.0.0.1:8025"
        return_domain = settings.return_path_domain if settings else ""
        signers = (
            self._dkim_keys.signers(principal.tenant_id, from_email.rpartition("@")[2])
            if self._dkim_keys
            else []
        )
        return Composer(
            version,
            Sender(email=from_email, name=from_name, return_path_domain=return_domain),
            SendContext(
                tenant_id=principal.tenant_id,
                public_url=public_url,
                secret_key=self._secret_key or b"preview",
                marketing=marketing,
                tracking=False,
            ),
            signers,
        )

    def preview(
        self,
        principal: Principal,
        template_id: str,
        *,
        version: int | None = None,
        contact_id: str | None = None,
        sample: dict[str, Any] | None = None,
    ) -> Preview:
        """Render a version for a chosen contact or sample data, listing undefined variables."""
        principal.require(Capability.TEMPLATES_READ)
        _template, found = self.get(principal, template_id, version)
        return self._render_preview(principal, found, contact_id, sample)

    def preview_draft(
        self,
        principal: Principal,
        content: TemplateContent,
        *,
        contact_id: str | None = None,
        sample: dict[str, Any] | None = None,
    ) -> Preview:
        """Render what an author is writing, unsaved, as `preview` renders a saved version.

        The draft is checked and compiled as a save would (an MJML or syntax
        error is the same InvalidInputError) and rendered in the same sandbox;
        nothing is stored.
        """
        principal.require(Capability.TEMPLATES_READ)
        draft, _links = build_version("tpl_draft", 0, content, self._clock.now())
        return self._render_preview(principal, draft, contact_id, sample)

    def _render_preview(
        self,
        principal: Principal,
        found: TemplateVersion,
        contact_id: str | None,
        sample: dict[str, Any] | None,
    ) -> Preview:
        composer = self._composer(principal, found, "preview@example.test", found.sender_name)
        recipient = self._recipient(
            principal,
            version=found,
            message_id="msg_preview",
            contact_id=contact_id,
            sample=sample,
            purpose="template-preview",
        )
        try:
            content, _context = composer.render(recipient)
        except RenderError as exc:
            raise InvalidInputError("template", str(exc)) from None
        return Preview(
            subject=content.subject,
            preheader=content.preheader,
            html=content.html,
            text=content.text,
            undefined=sorted(content.undefined),
            missing_defaults=undefined_without_default(found),
        )
