"""HTTP route of the sandbox internet: what simulated mailboxes received.

Only mounted when the installation runs with the sandbox resolver. A tenant
sees only messages whose envelope sender (the VERP return path) is one of its
own messages: the sandbox is shared, its mailboxes are not.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from courriel.core.errors import ForbiddenError
from courriel.core.principal import Capability
from courriel.delivery.verp import decode_return_path
from courriel.sandbox.store import MailStore, store_path
from courriel.web.deps import PrincipalDep, ServicesDep

router = APIRouter(tags=["sandbox"])


class SandboxMessageOut(BaseModel):
    id: int
    received_at: dt.datetime
    provider: str
    rcpt: str
    subject: str
    text: str
    peer: str = Field(default="", description="The sending client's address (an IP pool's)")
    helo: str = Field(default="", description="The name the client gave in EHLO")


@router.get("/sandbox/messages")
def inbox(
    services: ServicesDep,
    principal: PrincipalDep,
    to: Annotated[str, Query(min_length=3, max_length=320, description="Recipient address")],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[SandboxMessageOut]:
    """Messages the sandbox mailbox of `to` received from this tenant, newest first."""
    principal.require(Capability.SANDBOX_READ)
    if principal.masks:
        # Whole received messages: personalized text cannot be masked field by field.
        raise ForbiddenError("the sandbox inbox needs a credential that sees personal data")
    path = store_path(Path(services.settings.data_dir))
    if not path.exists():
        return []
    with MailStore(path) as store:
        received = store.inbox(to, limit=limit)
    out = []
    for message in received:
        origin = decode_return_path(services.secret_key, message.mail_from)
        if origin is None or origin.tenant_id != principal.tenant_id:
            continue
        out.append(
            SandboxMessageOut(
                id=message.id,
                received_at=message.received_at,
                provider=message.provider,
                rcpt=message.rcpt,
                subject=message.subject,
                text=message.text,
                peer=message.peer,
                helo=message.helo,
            )
        )
    return out
