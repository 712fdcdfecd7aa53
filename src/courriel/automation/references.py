"""What a workflow definition names must exist in the tenant's database, and be
visible to the principal: templates, lists, webhook endpoints, properties (with
values of their type), segment expressions. Checked before anything is stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from courriel.audience.models import MailingList
from courriel.audience.properties import load_definitions
from courriel.audience.segments.parser import parse
from courriel.audience.values import check_value
from courriel.automation.graph import Definition
from courriel.content.models import Template
from courriel.core.errors import InvalidInputError
from courriel.core.principal import Principal
from courriel.events.webhooks.models import WebhookEndpoint


def check_references(session: Session, principal: Principal, definition: Definition) -> None:
    """What the definition names exists in this tenant (and is visible to the principal)."""
    lists = {definition.consent_list_id, definition.trigger.get("list_id")}
    for step in definition.steps.values():
        settings = step.settings
        path = f"steps.{step.key}"
        if step.kind == "send" and session.get(Template, settings["template_id"]) is None:
            raise InvalidInputError(
                f"{path}.template_id", f"no template {settings['template_id']!r}"
            )
        if step.kind in ("add_to_list", "remove_from_list"):
            mailing_list = _list(session, principal, settings["list_id"], f"{path}.list_id")
            if step.kind == "add_to_list" and mailing_list.double_opt_in:
                raise InvalidInputError(
                    f"{path}.list_id",
                    "a workflow cannot confirm a double opt-in for a person: "
                    "add to a list without double opt-in",
                )
        if step.kind == "webhook" and session.get(WebhookEndpoint, settings["endpoint_id"]) is None:
            raise InvalidInputError(
                f"{path}.endpoint_id", f"no webhook endpoint {settings['endpoint_id']!r}"
            )
        if step.kind == "condition" and "segment" in settings:
            _expression(settings["segment"], f"{path}.segment")
        if step.kind == "update_property":
            _property(session, settings, f"{path}.value")
    for list_id in lists - {None}:
        assert list_id is not None
        _list(session, principal, list_id, "consent_list_id")
    if definition.goal is not None and "segment" in definition.goal:
        _expression(definition.goal["segment"], "goal.segment")


def _list(session: Session, principal: Principal, list_id: str, field: str) -> MailingList:
    found = session.get(MailingList, list_id)
    if found is None or not principal.sees_list(list_id):
        raise InvalidInputError(field, f"no list {list_id!r}")
    return found


def _expression(text: str, field: str) -> None:
    try:
        parse(text)
    except InvalidInputError as exc:
        raise InvalidInputError(field, exc.reason) from None


def _property(session: Session, settings: dict[str, Any], field: str) -> None:
    definition = load_definitions(session).get(settings["property"])
    if definition is None:
        raise InvalidInputError(
            field.replace(".value", ".property"), f"no property {settings['property']!r}"
        )
    settings["value"] = check_value(definition, settings["value"], field)
