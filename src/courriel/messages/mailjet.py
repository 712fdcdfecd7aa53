"""Mailjet's Send API v3.1, read and answered: its payload in, its response shape out.

A customer switches from Mailjet by changing one base URL, so the payload is
read as Mailjet documents it (``Messages[]``, ``Globals``, ``SandboxMode``,
``AdvanceErrorHandling``) and answered in its shape: per message a
``Status``, per recipient ``Email``/``MessageUUID``/``MessageID``/
``MessageHref``, and ``Errors[]`` with ``ErrorIdentifier``, ``ErrorCode``
(Mailjet's ``mj-00NN`` and ``send-00NN`` codes), ``StatusCode``,
``ErrorMessage`` and ``ErrorRelatedTo``. One bad message does not sink the
others: each is checked and sent on its own.

Mailjet's template language (``{{var:name}}``, ``{{var:name:"default"}}``,
``[[var:name]]``, ``{{data:property}}``) is translated to the sandboxed
Jinja of Courriel before compiling, when ``TemplateLanguage`` is true.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from courriel.content.mime import Attachment, valid_content_id, valid_content_type
from courriel.messages.service import (
    OutgoingMessage,
    Party,
    Problem,
    RecipientResult,
    Submitted,
)

MAX_MESSAGES = 50
_TRACKING = {"account_default": False, "disabled": False, "enabled": True}
_MESSAGE_KEYS = {
    "From",
    "Sender",
    "To",
    "Cc",
    "Bcc",
    "ReplyTo",
    "Subject",
    "TextPart",
    "HTMLPart",
    "TemplateID",
    "TemplateLanguage",
    "TemplateErrorReporting",
    "TemplateErrorDeliver",
    "Attachments",
    "InlinedAttachments",
    "Priority",
    "CustomCampaign",
    "DeduplicateCampaign",
    "TrackOpens",
    "TrackClicks",
    "CustomID",
    "EventPayload",
    "MonitoringCategory",
    "URLTags",
    "Headers",
    "Variables",
}
_VAR = re.compile(
    r"(?:\{\{|\[\[)\s*(var|data):([A-Za-z_][A-Za-z0-9_]*)"
    r"(?::(\"(?:[^\"\\]|\\.)*\"|[^}\]]*))?\s*(?:\}\}|\]\])"
)


@dataclass
class ParsedMessage:
    """One entry of ``Messages[]``: the message to submit, or what is wrong with it."""

    message: OutgoingMessage | None
    problems: list[Problem] = field(default_factory=list)
    custom_id: str = ""


@dataclass(frozen=True)
class SendRequest:
    """The whole payload read: its messages, and the two root switches."""

    messages: list[ParsedMessage]
    sandbox: bool
    advance_errors: bool


class PayloadError(Exception):
    """The payload as a whole is unusable (Mailjet's global error shape)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def translate_template(source: str) -> str:
    """Mailjet's variables as Jinja.

    ``{{var:day:"monday"}}`` becomes ``{{ var.day | default("monday", true) }}``.
    """

    def one(match: re.Match[str]) -> str:
        kind, name, default = match.group(1), match.group(2), match.group(3)
        target = f"var.{name}" if kind == "var" else f"contact.{name}"
        if default is None:
            return "{{ " + target + " }}"
        default = default.strip()
        if not default.startswith('"'):
            default = '"' + default.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return "{{ " + target + " | default(" + default + ", true) }}"

    return _VAR.sub(one, source)


def parse_send(payload: Any) -> SendRequest:
    """Read a Send API v3.1 payload; PayloadError when it cannot be read at all."""
    if not isinstance(payload, dict):
        raise PayloadError(
            "mj-0002", "Malformed JSON, please review the syntax and properties types."
        )
    messages = payload.get("Messages")
    if messages is None:
        raise PayloadError("mj-0003", "Missing mandatory property: Messages")
    if not isinstance(messages, list):
        raise PayloadError("mj-0004", 'Type mismatch. Expected type "array" for Messages.')
    if not messages:
        raise PayloadError("mj-0007", "Messages must contain at least one message.")
    if len(messages) > MAX_MESSAGES:
        raise PayloadError("mj-0008", f"Messages may contain at most {MAX_MESSAGES} messages.")
    globals_ = payload.get("Globals") or {}
    sandbox = payload.get("SandboxMode", False)
    advance = payload.get("AdvanceErrorHandling", False)
    if (
        not isinstance(globals_, dict)
        or not isinstance(sandbox, bool)
        or not isinstance(advance, bool)
    ):
        raise PayloadError(
            "mj-0004",
            "Type mismatch: Globals is an object, SandboxMode and AdvanceErrorHandling booleans.",
        )
    return SendRequest([_parse_message(m, globals_) for m in messages], sandbox, advance)


def _merged(message: dict[str, Any], globals_: dict[str, Any]) -> dict[str, Any]:
    # "Globals" apply to every message; a message's own value wins, and
    # Variables and Headers are merged key by key.
    merged = {**globals_, **message}
    for key in ("Variables", "Headers"):
        if isinstance(globals_.get(key), dict) and isinstance(message.get(key), dict):
            merged[key] = {**globals_[key], **message[key]}
    return merged


class _Reader:
    """Reads one message's properties, noting every problem found."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.problems: list[Problem] = []

    def bad(self, code: str, text: str, *related: str) -> None:
        self.problems.append(Problem(code, 400, text, related))

    def typed(
        self, key: str, kind: type | tuple[type, ...], label: str, default: Any = None
    ) -> Any:
        value = self.data.get(key, default)
        if value is None:
            return default
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.bad("mj-0004", f'Type mismatch. Expected type "{label}".', key)
            return default
        return value

    def party(self, value: Any, key: str) -> Party | None:
        if not isinstance(value, dict):
            self.bad("mj-0004", 'Type mismatch. Expected type "email object".', key)
            return None
        email, name = value.get("Email"), value.get("Name", "")
        if email is None:
            self.bad("mj-0003", f"Missing mandatory property: {key}.Email", f"{key}.Email")
            return None
        if not isinstance(email, str) or not isinstance(name, str | type(None)):
            self.bad("mj-0004", 'Type mismatch. Expected type "string".', f"{key}.Email")
            return None
        return Party(email.strip(), (name or "").strip())

    def parties(self, key: str) -> list[Party]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.bad("mj-0004", 'Type mismatch. Expected type "array of emails".', key)
            return []
        found = [self.party(item, f"{key}[{i}]") for i, item in enumerate(value)]
        return [p for p in found if p is not None]

    def tracking(self, key: str) -> bool:
        value = self.data.get(key, "account_default")
        if value not in _TRACKING:
            self.bad("mj-0005", f"{key} is one of account_default, disabled, enabled", key)
            return False
        return _TRACKING[value]

    def attachments(self, key: str, inline: bool) -> list[Attachment]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.bad("mj-0004", 'Type mismatch. Expected type "array of attachments".', key)
            return []
        files = []
        for index, item in enumerate(value):
            found = self._attachment(item, f"{key}[{index}]", inline)
            if found is not None:
                files.append(found)
        return files

    def _attachment(  # noqa: PLR0911 - one return per refusal, each with its reason
        self, item: Any, where: str, inline: bool
    ) -> Attachment | None:
        if not isinstance(item, dict):
            self.bad("mj-0004", 'Type mismatch. Expected type "attachment".', where)
            return None
        names = ["ContentType", "Filename", "Base64Content"] + (["ContentID"] if inline else [])
        values: dict[str, str] = {}
        for name in names:
            found = item.get(name)
            if not isinstance(found, str) or not found.strip():
                self.bad("mj-0012", f"{where}.{name} must be a non-empty string", f"{where}.{name}")
                return None
            values[name] = found.strip()
        if not valid_content_type(values["ContentType"]):
            self.bad("mj-0005", f"{where}.ContentType must be type/subtype", f"{where}.ContentType")
            return None
        if inline and not valid_content_id(values["ContentID"]):
            self.bad(
                "mj-0005",
                f"{where}.ContentID has characters a Content-ID cannot hold",
                f"{where}.ContentID",
            )
            return None
        if any(ch in values["Filename"] for ch in "\r\n\x00") or len(values["Filename"]) > 255:
            self.bad(
                "mj-0005",
                f"{where}.Filename must be one line of at most 255 characters",
                f"{where}.Filename",
            )
            return None
        try:
            content = base64.b64decode(values["Base64Content"], validate=True)
        except (binascii.Error, ValueError):
            self.bad(
                "mj-0005", f"{where}.Base64Content is not valid base64", f"{where}.Base64Content"
            )
            return None
        return Attachment(
            values["Filename"], values["ContentType"], content, values.get("ContentID")
        )


def _parse_message(raw: Any, globals_: dict[str, Any]) -> ParsedMessage:
    if not isinstance(raw, dict):
        problem = Problem("mj-0004", 400, 'Type mismatch. Expected type "message".', ("Messages",))
        return ParsedMessage(None, [problem])
    data = _merged(raw, globals_)
    r = _Reader(data)
    custom_id = data.get("CustomID") if isinstance(data.get("CustomID"), str) else ""
    for key in sorted(set(data) - _MESSAGE_KEYS):
        r.bad("mj-0005", f"unknown property {key}", key)
    sender = r.party(data["From"], "From") if "From" in data else None
    if "From" not in data:
        # Courriel's templates carry no sender address: From is always needed.
        r.bad("mj-0003", "Missing mandatory property: From", "From")
    _unsupported(data, r)
    if "To" not in data:
        r.bad("mj-0003", "Missing mandatory property: To", "To")
    reply_to = r.party(data["ReplyTo"], "ReplyTo") if data.get("ReplyTo") is not None else None
    language = r.typed("TemplateLanguage", bool, "boolean", default=False)
    subject = r.typed("Subject", str, "string")
    text = r.typed("TextPart", str, "string")
    html = r.typed("HTMLPart", str, "string")
    if language:
        subject, text, html = (
            translate_template(p) if p is not None else None for p in (subject, text, html)
        )
    template = r.typed("TemplateID", (int, str), "integer")
    variables = r.typed("Variables", dict, "object", {})
    headers = r.typed("Headers", dict, "object", {})
    if any(not isinstance(v, str) for v in headers.values()):
        r.bad("mj-0004", 'Type mismatch. Expected type "string" for header values.', "Headers")
        headers = {}
    priority = r.typed("Priority", int, "integer", 2)
    message = OutgoingMessage(
        sender=sender or Party(""),
        to=r.parties("To"),
        cc=r.parties("Cc"),
        bcc=r.parties("Bcc"),
        reply_to=reply_to,
        subject=subject,
        text=text,
        html=html,
        template_id=str(template) if template is not None else None,
        variables=variables,
        headers=headers,
        attachments=r.attachments("Attachments", inline=False)
        + r.attachments("InlinedAttachments", inline=True),
        custom_id=custom_id or "",
        event_payload=r.typed("EventPayload", str, "string", ""),
        campaign=r.typed("CustomCampaign", str, "string", ""),
        deduplicate=r.typed("DeduplicateCampaign", bool, "boolean", default=False),
        track_opens=r.tracking("TrackOpens"),
        track_clicks=r.tracking("TrackClicks"),
        priority=priority,
    )
    return ParsedMessage(None if r.problems else message, r.problems, message.custom_id)


def _unsupported(data: dict[str, Any], r: _Reader) -> None:
    """Properties Courriel reads but cannot honour, refused as Mailjet refuses them."""
    if data.get("Sender") is not None:
        r.bad("send-0006", "this API key may not set a Sender header", "SenderID")
        r.problems[-1] = Problem("send-0006", 403, r.problems[-1].message, ("SenderID",))
    if data.get("MonitoringCategory") is not None:
        r.bad(
            "send-0013", "MonitoringCategory does not exist for this API key", "MonitoringCategory"
        )
    if data.get("URLTags"):
        r.bad("mj-0005", "URLTags are not supported: add the parameters to the links", "URLTags")
    reporting = any(
        data.get(k) is not None for k in ("TemplateErrorReporting", "TemplateErrorDeliver")
    )
    if reporting and data.get("TemplateLanguage") is not True:
        r.bad(
            "send-0016",
            "TemplateErrorReporting and TemplateErrorDeliver need TemplateLanguage",
            "TemplateLanguage",
        )


# -- answering ---------------------------------------------------------------


def error_entry(problem: Problem) -> dict[str, Any]:
    """One entry of a message's ``Errors[]``."""
    return {
        "ErrorIdentifier": str(uuid.uuid4()),
        "ErrorCode": problem.code,
        "StatusCode": problem.status,
        "ErrorMessage": problem.message,
        "ErrorRelatedTo": list(problem.related),
    }


def global_error(error: PayloadError) -> dict[str, Any]:
    """The answer to a payload that cannot be read at all."""
    return {
        "ErrorIdentifier": str(uuid.uuid4()),
        "ErrorCode": error.code,
        "ErrorMessage": error.message,
        "StatusCode": error.status,
    }


def failed(problems: list[Problem], advance: bool) -> dict[str, Any]:
    """A message that was not sent: its errors (all of them with AdvanceErrorHandling)."""
    shown = problems if advance else problems[:1]
    return {"Status": "error", "Errors": [error_entry(p) for p in shown]}


def succeeded(submitted: Submitted, href: Callable[[RecipientResult], str]) -> dict[str, Any]:
    """A message accepted: its recipients with their ids, by To, Cc and Bcc."""
    out: dict[str, Any] = {"Status": "success", "CustomID": submitted.custom_id}
    for kind, key in (("to", "To"), ("cc", "Cc"), ("bcc", "Bcc")):
        out[key] = [
            {
                "Email": r.email,
                "MessageUUID": r.uuid,
                "MessageID": r.number,
                "MessageHref": href(r),
            }
            for r in submitted.recipients
            if r.kind == kind
        ]
    return out
