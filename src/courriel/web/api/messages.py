"""HTTP routes of transactional sending: Mailjet's ``/v3.1/send`` and ``/v1/messages``."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from courriel.content.mime import Attachment, valid_content_id, valid_content_type
from courriel.core.errors import AuthenticationError, CourrielError, InvalidInputError
from courriel.core.principal import Principal
from courriel.messages import mailjet
from courriel.messages.idempotency import StoredAnswer
from courriel.messages.schemas import (
    MessageEventOut,
    MessageIn,
    MessageOut,
    RecipientOut,
    SubmittedOut,
)
from courriel.messages.service import MessageRefusedError, OutgoingMessage, Party, RecipientResult
from courriel.web.deps import PrincipalDep, Services, ServicesDep
from courriel.web.deps import principal as principal_of

router = APIRouter(tags=["messages"])
# Mailjet's v3.1 payload has no field for it: a request header asks for the
# link check of every message of the request.
CHECK_LINKS_HEADER = "X-Courriel-Check-Links"
IdempotencyHeader = Annotated[
    str | None,
    Header(
        max_length=255, description="Makes a retry answer as the first request, sending nothing"
    ),
]

# Fifty messages of 15 MB of files each would be 1 GB: a request is capped
# well below (Mailjet answers mj-0011 to an oversized payload too).
MAX_REQUEST_BYTES = 32_000_000
_AUTH_FAILED = (
    "API key authentication/authorization failure. Send the API key's id as user name "
    "and the key as password (HTTP Basic), or the key as a Bearer token."
)


def _mailjet_error(status: int, code: str, message: str) -> JSONResponse:
    body = mailjet.global_error(mailjet.PayloadError(code, message, status))
    headers = {"WWW-Authenticate": 'Basic realm="courriel"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _href(services: Services) -> Any:
    base = services.settings.public_url

    def href(result: RecipientResult) -> str:
        # Mailjet's MessageHref: the API URL of the message, by MessageID.
        return f"{base}/v1/messages/{result.number}"

    return href


def _send(
    services: Services, principal: Principal, payload: Any, *, check_links: bool = False
) -> StoredAnswer:
    """Read the payload, submit each good message, answer in Mailjet's shape."""
    try:
        request = mailjet.parse_send(payload)
    except mailjet.PayloadError as exc:
        return StoredAnswer(exc.status, mailjet.global_error(exc))
    good = [
        dataclasses.replace(p.message, check_links=True) if check_links else p.message
        for p in request.messages
        if p.message is not None
    ]
    outcomes = iter(services.messages.submit_many(principal, good, sandbox=request.sandbox))
    href = _href(services)
    answers: list[dict[str, Any]] = []
    for parsed in request.messages:
        if parsed.message is None:
            answers.append(mailjet.failed(parsed.problems, request.advance_errors))
            continue
        outcome = next(outcomes)
        if isinstance(outcome, MessageRefusedError):
            answers.append(mailjet.failed(outcome.problems, request.advance_errors))
        else:
            answers.append(mailjet.succeeded(outcome, href))
    ok = all(a["Status"] == "success" for a in answers)
    return StoredAnswer(200 if ok else 400, {"Messages": answers})


@router.post("/v3.1/send", response_model=None, tags=["messages"])
async def mailjet_send(
    request: Request,
    services: ServicesDep,
    idempotency_key: IdempotencyHeader = None,
    x_courriel_check_links: Annotated[
        str | None,
        Header(
            description=(
                "`1`: fetch every link of each message first; a message with a dead, "
                "blocklisted or phishing-style link is refused (one error per link)"
            )
        ),
    ] = None,
) -> JSONResponse:
    """Mailjet's Send API v3.1: up to 50 messages, each answered on its own.

    Authenticate with HTTP Basic (the API key's id as user name, the key as
    password: Mailjet clients' ``(api_key, api_secret)``) or a Bearer key.
    An ``Idempotency-Key`` header makes a retry answer as the first request
    did, without sending again. ``X-Courriel-Check-Links: 1`` checks links.
    """
    check_links = (x_courriel_check_links or "").strip().lower() in ("1", "true", "yes")
    try:
        principal = await run_in_threadpool(principal_of, request)
    except AuthenticationError:
        return _mailjet_error(401, "mj-0015", _AUTH_FAILED)
    body = await request.body()
    if len(body) > MAX_REQUEST_BYTES:
        return _mailjet_error(400, "mj-0011", f"the payload is over {MAX_REQUEST_BYTES} bytes")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _mailjet_error(
            400, "mj-0002", "Malformed JSON, please review the syntax and properties types."
        )
    try:
        answer = await run_in_threadpool(
            functools.partial(_answer, check_links=check_links),
            services,
            principal,
            payload,
            body,
            idempotency_key,
        )
    except CourrielError as exc:
        status = 409 if "still being handled" in exc.detail else 400
        if isinstance(exc, InvalidInputError):
            status = 422
        return _mailjet_error(status, "mj-0005", exc.detail)
    return JSONResponse(answer.body, status_code=answer.status_code)


def _answer(
    services: Services,
    principal: Principal,
    payload: Any,
    body: bytes,
    key: str | None,
    *,
    check_links: bool = False,
) -> StoredAnswer:
    if key is None:
        return _send(services, principal, payload, check_links=check_links)
    stored = services.idempotency.begin(principal, key, body)
    if stored is not None:
        return stored
    try:
        answer = _send(services, principal, payload, check_links=check_links)
    except BaseException:
        services.idempotency.abandon(principal, key)
        raise
    services.idempotency.finish(principal, key, answer)
    return answer


def _outgoing(body: MessageIn) -> OutgoingMessage:
    files = []
    for index, item in enumerate(body.attachments):
        where = f"attachments.{index}"
        if not valid_content_type(item.content_type):
            raise InvalidInputError(f"{where}.content_type", "must be type/subtype")
        if item.content_id is not None and not valid_content_id(item.content_id):
            raise InvalidInputError(
                f"{where}.content_id", "has characters a Content-ID cannot hold"
            )
        if any(ch in item.filename for ch in "\r\n\x00"):
            raise InvalidInputError(f"{where}.filename", "must be one line")
        try:
            content = base64.b64decode(item.content, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError(f"{where}.content", "is not valid base64") from None
        files.append(Attachment(item.filename, item.content_type, content, item.content_id))
    return OutgoingMessage(
        sender=Party(body.from_email, body.from_name),
        to=[Party(a.email, a.name) for a in body.to],
        cc=[Party(a.email, a.name) for a in body.cc],
        bcc=[Party(a.email, a.name) for a in body.bcc],
        reply_to=Party(body.reply_to) if body.reply_to else None,
        subject=body.subject,
        text=body.text,
        html=body.html,
        template_id=body.template_id,
        template_version=body.template_version,
        variables=body.variables,
        headers=body.headers,
        attachments=files,
        custom_id=body.custom_id,
        event_payload=body.event_payload,
        campaign=body.campaign,
        deduplicate=body.deduplicate,
        track_opens=body.track_opens,
        track_clicks=body.track_clicks,
        priority=body.priority,
        check_links=body.check_links,
    )


# Send API property names as this API calls its fields, for problem+json.
_FIELDS = {
    "From": "from_email",
    "To": "to",
    "Cc": "cc",
    "Bcc": "bcc",
    "ReplyTo": "reply_to",
    "Subject": "subject",
    "TextPart": "text",
    "HTMLPart": "html",
    "TemplateID": "template_id",
    "Variables": "variables",
    "Headers": "headers",
    "Attachments": "attachments",
    "CustomID": "custom_id",
    "EventPayload": "event_payload",
    "CustomCampaign": "campaign",
    "DeduplicateCampaign": "deduplicate",
    "Priority": "priority",
}


def _native_field(related: str) -> str:
    head, sep, rest = related.partition(".")
    name, bracket, index = head.partition("[")
    field = _FIELDS.get(name, name)
    if bracket:
        field += "." + index.rstrip("]")
    if sep and name not in ("From", "ReplyTo"):
        field += "." + rest.lower()
    return field


@router.post("/v1/messages", status_code=202)
def send_message(
    body: MessageIn,
    services: ServicesDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyHeader = None,
) -> SubmittedOut:
    """Send one transactional message (to up to 50 recipients); 202 once it is spooled."""
    message = _outgoing(body)
    raw = body.model_dump_json().encode()
    if idempotency_key is not None:
        stored = services.idempotency.begin(principal, idempotency_key, raw)
        if stored is not None:
            return SubmittedOut.model_validate(stored.body)
    try:
        submitted = services.messages.submit(principal, message, sandbox=body.sandbox)
    except MessageRefusedError as exc:
        if idempotency_key is not None:
            services.idempotency.abandon(principal, idempotency_key)
        first = exc.problems[0]
        field = _native_field(first.related[0]) if first.related else "message"
        # Problems of one kind (a link check's, one per link) are shown together, a line each.
        same = [
            p.message for p in exc.problems if (p.code, p.related) == (first.code, first.related)
        ]
        raise InvalidInputError(field, "\n".join(same)) from None
    out = SubmittedOut(
        custom_id=submitted.custom_id,
        recipients=[
            RecipientOut(
                email=r.email,
                kind=r.kind,
                id=r.message_id,
                uuid=r.uuid,
                number=r.number,
                status=r.status.value,
                reason=r.reason,
            )
            for r in submitted.recipients
        ],
    )
    if idempotency_key is not None:
        services.idempotency.finish(
            principal, idempotency_key, StoredAnswer(202, out.model_dump(mode="json"))
        )
    return out


@router.get("/v1/messages/{reference}")
def get_message(reference: str, services: ServicesDep, principal: PrincipalDep) -> MessageOut:
    """A transactional message (by id, MessageUUID or MessageID) and its history."""
    if len(reference) > 64:
        raise InvalidInputError("reference", "at most 64 characters")
    history = services.messages.get(principal, reference)
    r = history.record
    return MessageOut(
        id=r.id,
        uuid=r.uuid,
        number=r.number,
        status=r.status.value,
        reason=r.reason,
        from_email=r.from_email,
        recipient=r.recipient,
        kind=r.kind,
        subject=r.subject,
        custom_id=r.custom_id,
        event_payload=r.event_payload,
        campaign=r.campaign,
        template_id=r.template_id,
        created_at=r.created_at,
        history=[
            MessageEventOut(type=e.type.value, occurred_at=e.occurred_at, detail=e.detail)
            for e in history.events
        ],
    )
