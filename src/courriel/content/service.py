"""Template use cases: create a template, add versions, read them."""

from __future__ import annotations

from sqlalchemy import select

from courriel.accounts.principal import Capability, Principal
from courriel.content.models import Template, TemplateVersion
from courriel.content.render import CompiledTemplate
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.pagination import Page, paginate
from courriel.core.storage import Storage

MAX_BODY = 2_000_000


class TemplateService:
    """Templates of the principal's tenant; each change is a new frozen version."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    @staticmethod
    def _check(subject: str, html: str, text: str | None) -> None:
        if not subject.strip():
            raise InvalidInputError("subject", "must not be empty")
        if any(ch in subject for ch in "\r\n\x00"):
            raise InvalidInputError("subject", "must not contain line breaks or NUL")
        if not html.strip():
            raise InvalidInputError("html", "must not be empty")
        if len(html) > MAX_BODY or (text is not None and len(text) > MAX_BODY):
            raise InvalidInputError("html", f"must be at most {MAX_BODY} characters")
        # Compiling now reports syntax errors at save time, naming the field.
        CompiledTemplate(subject, html, text)

    def create(
        self, principal: Principal, name: str, subject: str, html: str, text: str | None = None
    ) -> tuple[Template, TemplateVersion]:
        """Create a template with its first version."""
        principal.require(Capability.TEMPLATES_WRITE)
        if not name.strip() or len(name) > 200:
            raise InvalidInputError("name", "must be 1 to 200 characters")
        self._check(subject, html, text)
        now = self._clock.now()
        template = Template(id=new_id("tpl"), name=name.strip(), current_version=1, created_at=now)
        version = TemplateVersion(
            id=new_id("tpv"),
            template_id=template.id,
            version=1,
            subject=subject,
            html=html,
            text=text,
            created_at=now,
        )
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            session.add(template)
            session.flush()
            session.add(version)
        return template, version

    def get(self, principal: Principal, template_id: str) -> tuple[Template, TemplateVersion]:
        """A template and its current version."""
        principal.require(Capability.TEMPLATES_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            template = session.get(Template, template_id)
            if template is None:
                raise NotFoundError(f"no template {template_id!r}")
            version = session.scalar(
                select(TemplateVersion).where(
                    TemplateVersion.template_id == template_id,
                    TemplateVersion.version == template.current_version,
                )
            )
        assert version is not None
        return template, version

    def list(self, principal: Principal, cursor: str | None, limit: int) -> Page[Template]:
        """The tenant's templates, a page at a time."""
        principal.require(Capability.TEMPLATES_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            return paginate(session, select(Template), Template.id, cursor, limit)
