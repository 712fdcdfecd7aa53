"""Making a workflow from a shipped template (`catalogue.py`) for one tenant.

The tenant names its list and sender; each send step gets the tenant's own
mail template, either one it names or a copy of the shipped mail made for it
(so it can be edited like any template). Everything the tenant names is
checked before any mail template is made, so a refusal stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from courriel.audience.models import MailingList
from courriel.automation.catalogue import TEMPLATES, WorkflowTemplate, filled
from courriel.automation.service import WorkflowService, WorkflowView
from courriel.content.models import Template
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

# Makes one of the tenant's mail templates: (principal, name, subject, html) → its id.
MakeMailTemplate = Callable[[Principal, str, str, str], str]


@dataclass(frozen=True)
class FromTemplate:
    """What a tenant fills in a workflow template."""

    list_id: str
    from_email: str
    from_name: str = ""
    name: str = ""
    mail_templates: Mapping[str, str] | None = None  # send step key → the tenant's template


class WorkflowCatalogue:
    """The shipped workflow templates, and workflows made from them."""

    def __init__(
        self, storage: Storage, workflows: WorkflowService, make_mail: MakeMailTemplate
    ) -> None:
        self._storage = storage
        self._workflows = workflows
        self._make_mail = make_mail

    @staticmethod
    def templates(principal: Principal) -> list[WorkflowTemplate]:
        """Every shipped template (the same for every tenant)."""
        principal.require(Capability.CAMPAIGNS_READ)
        return list(TEMPLATES.values())

    @staticmethod
    def template(principal: Principal, key: str) -> WorkflowTemplate:
        """One shipped template by its key."""
        principal.require(Capability.CAMPAIGNS_READ)
        found = TEMPLATES.get(key)
        if found is None:
            raise NotFoundError(f"no workflow template {key!r}")
        return found

    def create(self, principal: Principal, key: str, filling: FromTemplate) -> WorkflowView:
        """A draft workflow from template `key`; InvalidInputError names what is wrong."""
        principal.require(Capability.CAMPAIGNS_WRITE)
        template = self.template(principal, key)
        given = dict(filling.mail_templates or {})
        self._check(principal, template, filling, given)
        mails = {
            step: given.get(step)
            or self._make_mail(principal, f"{template.name}: {mail.name}", mail.subject, mail.html)
            for step, mail in template.mails.items()
        }
        definition = filled(
            template,
            list_id=filling.list_id,
            from_email=filling.from_email.strip(),
            from_name=filling.from_name.strip(),
            mail_templates=mails,
        )
        return self._workflows.create(principal, filling.name or template.name, definition)

    def _check(
        self,
        principal: Principal,
        template: WorkflowTemplate,
        filling: FromTemplate,
        given: dict[str, str],
    ) -> None:
        if not filling.from_email.strip() or "@" not in filling.from_email:
            raise InvalidInputError("from_email", "an address of a verified sender domain")
        if len(filling.name) > 200:
            raise InvalidInputError("name", "must be at most 200 characters")
        for step in given:
            if step not in template.mails:
                raise InvalidInputError(
                    f"mail_templates.{step}", f"no send step {step!r} in {template.key!r}"
                )
        if given:
            principal.require(Capability.TEMPLATES_READ)
        else:
            principal.require(Capability.TEMPLATES_WRITE)
        with self._storage.tenant(principal.tenant_id)() as session:
            found = session.get(MailingList, filling.list_id)
            if found is None or not principal.sees_list(filling.list_id):
                raise InvalidInputError("list_id", f"no list {filling.list_id!r}")
            for step, template_id in given.items():
                if session.get(Template, template_id) is None:
                    raise InvalidInputError(
                        f"mail_templates.{step}", f"no template {template_id!r}"
                    )
