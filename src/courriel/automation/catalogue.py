"""Workflow templates shipped with Courriel: a welcome series, a re-engagement
(sunset) series, and the consent-renewal (re-permission) process.

A template is a definition with holes: the tenant's list, sender and mail
templates are filled in when a workflow is made from it (`catalogue_service`).
Each send step ships the copy of its mail (`MAILS`), made into one of the
tenant's own templates unless the caller names one of theirs.

Re-permission as a workflow (compare `privacy/repermission.py`):

- asked: contacts enter by the custom event `consent_renewal_due` (posted by
  the customer's application, or `courriel workflows` when consent ages);
  the privacy rooms' own run picks them by consent age itself, which no
  trigger does yet;
- confirming: the mail links to the contact's preferences page, where
  "Keep these lists" records `reconfirmed` in the consent ledger; the
  condition `consented within N days` sees it;
- reminded once, then lapsing: a non-responder is taken off the list
  (`remove_from_list`). Not expressed: the ledger entry `expired`, the
  choice to anonymize inactive people, and the untracked mail of the
  privacy run (a workflow's mail is tracked like a campaign's).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

LIST = "{list_id}"


@dataclass(frozen=True)
class Mail:
    """The shipped copy of one send step's mail."""

    name: str
    subject: str
    html: str


@dataclass(frozen=True)
class WorkflowTemplate:
    """A shipped workflow: its name, what it does, and its definition with holes."""

    key: str
    name: str
    summary: str
    definition: dict[str, Any]
    mails: dict[str, Mail]  # send step key → its shipped mail
    notes: str = ""


_UNSUBSCRIBE = '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


def _mail(name: str, subject: str, *paragraphs: str) -> Mail:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return Mail(name, subject, f"<p>Hello {{{{ contact.first_name }}}},</p>{body}{_UNSUBSCRIBE}")


WELCOME = WorkflowTemplate(
    key="welcome",
    name="Welcome series",
    summary="Three mails to a new subscriber: at once, two days later, a week later.",
    definition={
        "trigger": {"kind": "list_subscribed", "list_id": LIST},
        "entry": {"rule": "once"},
        "steps": [
            {"key": "welcome", "kind": "send", "next": "wait-2-days"},
            {"key": "wait-2-days", "kind": "wait", "days": 2, "next": "tips"},
            {"key": "tips", "kind": "send", "next": "wait-5-days"},
            {"key": "wait-5-days", "kind": "wait", "days": 5, "next": "offer"},
            {"key": "offer", "kind": "send"},
        ],
    },
    mails={
        "welcome": _mail("Welcome 1", "Welcome aboard", "Thank you for subscribing."),
        "tips": _mail("Welcome 2", "Getting the most of it", "A few tips to start."),
        "offer": _mail("Welcome 3", "A welcome gift", "Here is something for you."),
    },
)

REENGAGEMENT = WorkflowTemplate(
    key="re-engagement",
    name="Re-engagement (sunset)",
    summary=(
        "Asks inactive subscribers whether they still want the mail; those who "
        "neither open nor click within two weeks are taken off the list."
    ),
    definition={
        "trigger": {"kind": "custom_event", "name": "became_inactive"},
        "entry": {"rule": "once_per_days", "days": 180},
        "consent_list_id": LIST,
        "steps": [
            {"key": "miss-you", "kind": "send", "next": "wait-week"},
            {"key": "wait-week", "kind": "wait", "days": 7, "next": "came-back"},
            {
                "key": "came-back",
                "kind": "condition",
                "segment": "opened within 7 days or clicked within 7 days",
                "yes": None,
                "no": "last-chance",
            },
            {"key": "last-chance", "kind": "send", "next": "wait-last"},
            {"key": "wait-last", "kind": "wait", "days": 7, "next": "came-back-late"},
            {
                "key": "came-back-late",
                "kind": "condition",
                "segment": "opened within 7 days or clicked within 7 days",
                "yes": None,
                "no": "sunset",
            },
            {"key": "sunset", "kind": "remove_from_list", "list_id": LIST},
        ],
    },
    mails={
        "miss-you": _mail("We miss you", "We miss you", "Do you still want our news?"),
        "last-chance": _mail(
            "Last chance", "Shall we stop writing?", "Without news from you we will stop."
        ),
    },
    notes=(
        "Enter people with POST /v1/events/custom (name became_inactive), e.g. "
        "for the segment `not opened within 90 days and not clicked within 90 days`."
    ),
)

REPERMISSION = WorkflowTemplate(
    key="re-permission",
    name="Consent renewal (re-permission)",
    summary=(
        "Asks for a renewed consent, reminds once after two weeks, and takes "
        "those who did not renew within three weeks off the list."
    ),
    definition={
        "trigger": {"kind": "custom_event", "name": "consent_renewal_due"},
        "entry": {"rule": "once_per_days", "days": 300},
        "consent_list_id": LIST,
        "steps": [
            {"key": "ask", "kind": "send", "next": "wait-answer"},
            {"key": "wait-answer", "kind": "wait", "days": 14, "next": "renewed"},
            {
                "key": "renewed",
                "kind": "condition",
                "segment": "consented within 14 days",
                "yes": None,
                "no": "remind",
            },
            {"key": "remind", "kind": "send", "next": "wait-reminder"},
            {"key": "wait-reminder", "kind": "wait", "days": 7, "next": "renewed-late"},
            {
                "key": "renewed-late",
                "kind": "condition",
                "segment": "consented within 21 days",
                "yes": None,
                "no": "lapse",
            },
            {"key": "lapse", "kind": "remove_from_list", "list_id": LIST},
        ],
    },
    mails={
        "ask": _mail(
            "Consent renewal",
            "Do you still want to hear from us?",
            "You gave us your consent a long time ago. Please tell us whether you "
            "still want our mail.",
            '<a href="{{ preferences_url }}">Keep me subscribed</a> '
            "(open the page, then press Keep these lists).",
            "If you do nothing, you will stop receiving it in three weeks.",
        ),
        "remind": _mail(
            "Consent renewal reminder",
            "Last reminder: do you still want our mail?",
            '<a href="{{ preferences_url }}">Keep me subscribed</a> '
            "(open the page, then press Keep these lists).",
            "If you do nothing, you will stop receiving it in a week.",
        ),
    },
    notes=(
        "Not expressed as steps: picking people by the age of their consent (post "
        "consent_renewal_due for them), the ledger entry `expired` at the lapse, "
        "anonymizing inactive people, and an untracked mail."
    ),
)

TEMPLATES: dict[str, WorkflowTemplate] = {t.key: t for t in (WELCOME, REENGAGEMENT, REPERMISSION)}


def filled(
    template: WorkflowTemplate,
    *,
    list_id: str,
    from_email: str,
    from_name: str,
    mail_templates: dict[str, str],
) -> dict[str, Any]:
    """The template's definition with the tenant's list, sender and mail templates."""
    definition = copy.deepcopy(template.definition)
    definition["from_email"] = from_email
    if from_name:
        definition["from_name"] = from_name
    _fill_list(definition, list_id)
    for step in definition["steps"]:
        if step["kind"] == "send":
            step["template_id"] = mail_templates[step["key"]]
    return definition


def _fill_list(value: Any, list_id: str) -> None:
    holders = value.values() if isinstance(value, dict) else value
    if isinstance(value, dict):
        for key, item in value.items():
            if item == LIST:
                value[key] = list_id
    for item in holders if isinstance(value, (dict, list)) else ():
        if isinstance(item, (dict, list)):
            _fill_list(item, list_id)
