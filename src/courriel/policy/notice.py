"""The e-mail telling a tenant its sending-policy state changed (a transactional message)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from courriel.config import Settings
from courriel.content.mailer import SystemMail
from courriel.policy.models import PolicyChange, PolicyState


def policy_notice(tenant_id: str, change: PolicyChange, to: str, settings: Settings) -> SystemMail:
    """The notice of one change, ready for the spool (its id derives from the change's)."""
    # Transactional: no unsubscribe link, no marketing consent needed.
    message = EmailMessage()
    message["From"] = settings.policy_notice_from
    message["To"] = to
    message["Subject"] = f"Sending policy: your account is now {change.to_state.value}"
    message["Date"] = format_datetime(change.occurred_at)
    message["Message-ID"] = make_msgid(domain=settings.return_path_domain)
    lines = [
        (
            f"Your account's sending-policy state changed from {change.from_state.value} "
            f"to {change.to_state.value} on {change.occurred_at.isoformat()}."
        ),
        "",
        f"Why: {change.reason}",
        "",
    ]
    numbers = change.explanation.get("figures", {})
    if numbers:
        lines.append("Figures over the window:")
        lines.extend(f"  {key}: {value}" for key, value in numbers.items())
    lines.extend(
        f"Campaign {c['name']} ({c['id']}): {c['counts']}"
        for c in change.explanation.get("campaigns", [])
    )
    lines.extend(
        f"Import {i['file_name']} ({i['source']}) into list {i['list_id']}"
        for i in change.explanation.get("imports", [])
    )
    if change.to_state is PolicyState.LIMITED:
        lines.append(
            f"Until the limit ends, at most {settings.policy_limited_hourly_cap} messages "
            "an hour are sent."
        )
    if change.to_state is PolicyState.SUSPENDED:
        lines.append("Sending is stopped until an operator lifts the suspension.")
    message.set_content("\n".join(lines))
    return SystemMail(
        tenant_id=tenant_id,
        message_id=f"msg_{change.id}",
        to=to,
        body=message.as_bytes(),
        envelope_from=settings.policy_notice_from,
    )
