"""HTTP routes of the sending policy, sender domains and the content checklist."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from courriel.policy.domains import sending_problem
from courriel.policy.models import SenderDomain
from courriel.policy.schemas import (
    BlocklistListingOut,
    BulkSenderRuleOut,
    ChecklistOut,
    DomainIn,
    DomainOut,
    LinkCheckIn,
    LinkCheckOut,
    NotifyIn,
    PolicyChangeOut,
    PolicyOut,
    RecordOut,
)
from courriel.web.api.sunset import router as sunset_router
from courriel.web.deps import PrincipalDep, Services, ServicesDep

router = APIRouter(tags=["policy"])
# The sunset policy (audience) is deliverability too; served beside the policy.
router.include_router(sunset_router)


@router.get("/policy")
def get_policy(services: ServicesDep, principal: PrincipalDep) -> PolicyOut:
    """The tenant's sending-policy state, why, and today's figures."""
    status = services.policy.status(principal)
    return PolicyOut(
        state=status.state.value,
        since=status.since,
        hourly_cap=status.hourly_cap,
        limited_until=status.limited_until,
        notify_email=status.notify_email,
        explanation=status.explanation,
        current=status.current,
        blocklists=_listings(services, principal),
    )


def _listings(services: Services, principal: PrincipalDep) -> list[BlocklistListingOut]:
    return [
        BlocklistListingOut(
            kind=r.kind.value,
            subject=r.subject,
            zone=r.zone,
            code=r.code,
            reason=r.reason,
            listed_at=r.listed_at,
            checked_at=r.checked_at,
        )
        for r in services.blocklists.listings(principal)
    ]


@router.get("/policy/blocklists")
def policy_blocklists(services: ServicesDep, principal: PrincipalDep) -> list[BlocklistListingOut]:
    """The sending IPs and this tenant's sender domains now on a DNS blocklist.

    Checked by the engine every `blocklist_interval_seconds`; a listing is
    also announced as a `blocklist-listed` event (and webhook), its end as
    `blocklist-cleared`.
    """
    return _listings(services, principal)


@router.get("/policy/changes")
def policy_changes(services: ServicesDep, principal: PrincipalDep) -> list[PolicyChangeOut]:
    """Every change of the tenant's policy state, newest first, with its explanation."""
    return [
        PolicyChangeOut.model_validate(c, from_attributes=True)
        for c in services.policy.history(principal)
    ]


@router.put("/policy/notify", status_code=204)
def set_policy_notify(body: NotifyIn, services: ServicesDep, principal: PrincipalDep) -> None:
    """The address policy notices are e-mailed to (empty: none)."""
    services.policy.set_notify_email(principal, body.email)


def _domain(services: Services, principal: PrincipalDep, row: SenderDomain) -> DomainOut:
    out = DomainOut.model_validate(row, from_attributes=True)
    out.sending_problem = sending_problem(row)
    out.records = [
        RecordOut(purpose=r.purpose, type=r.type, name=r.name, value=r.value)
        for r in services.sender_domains.records(principal, row.domain)
    ]
    return out


@router.post("/sender-domains", status_code=201)
def add_sender_domain(body: DomainIn, services: ServicesDep, principal: PrincipalDep) -> DomainOut:
    """Add a sender domain: returns the exact DNS records to publish."""
    return _domain(services, principal, services.sender_domains.add(principal, body.domain))


@router.get("/sender-domains")
def list_sender_domains(services: ServicesDep, principal: PrincipalDep) -> list[DomainOut]:
    """The tenant's sender domains."""
    return [
        _domain(services, principal, d) for d in services.sender_domains.list_domains(principal)
    ]


@router.get("/sender-domains/{domain}")
def get_sender_domain(domain: str, services: ServicesDep, principal: PrincipalDep) -> DomainOut:
    """One sender domain, its records and the latest check."""
    return _domain(services, principal, services.sender_domains.get(principal, domain))


@router.post("/sender-domains/{domain}/verify")
def verify_sender_domain(domain: str, services: ServicesDep, principal: PrincipalDep) -> DomainOut:
    """Look the records up in DNS now: ownership, SPF, DKIM, DMARC."""
    return _domain(services, principal, services.sender_domains.verify(principal, domain))


@router.get("/sender-domains/{domain}/bulk-sender-rules")
def bulk_sender_rules(
    domain: str, services: ServicesDep, principal: PrincipalDep
) -> list[BulkSenderRuleOut]:
    """The bulk-sender rules of Gmail, Yahoo and Microsoft for one sender domain.

    Looked up and measured now: SPF authorizes the sending IPs, DKIM and
    alignment with From, DMARC published, one-click unsubscribe, unsubscribes
    honoured within two days, complaint rate under 0.3 % per provider over 30
    days, forward-confirmed reverse DNS of the sending IPs. Each rule says
    pass, fail or unknown, why, and the fix.
    """
    return [
        BulkSenderRuleOut(name=r.name, status=r.status.value, reason=r.reason, fix=r.fix)
        for r in services.bulk_sender.check(principal, domain)
    ]


@router.get("/campaigns/{campaign_id}/check")
def check_campaign(
    campaign_id: str, services: ServicesDep, principal: PrincipalDep
) -> ChecklistOut:
    """The content checklist: blocking items stop a send, warnings are advice."""
    checklist = services.content_checks.checklist(principal, campaign_id)
    return ChecklistOut(**checklist.as_dict())


@router.get("/link-check")
def get_link_check(services: ServicesDep, principal: PrincipalDep) -> LinkCheckOut:
    """Whether the tenant's campaigns and Send API messages are link-checked."""
    choice = services.link_check_preferences.get(principal)
    return LinkCheckOut(**dataclasses.asdict(choice))


@router.put("/link-check")
def set_link_check(
    body: LinkCheckIn, services: ServicesDep, principal: PrincipalDep
) -> LinkCheckOut:
    """Switch link checking of campaigns and/or messages on or off for the tenant.

    The installation's settings (`required_*`) stay in force whatever is chosen here.
    """
    choice = services.link_check_preferences.set(
        principal, campaigns=body.campaigns, messages=body.messages
    )
    return LinkCheckOut(**dataclasses.asdict(choice))
