"""HTTP routes of IP pools and warm-up plans: thin adapters over `PoolService`.

Everything under /v1/pools is the platform administrators' (setting
``platform_admin_tenant``); a tenant reads which pools its own mail leaves
from at /v1/sending-pools.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from courriel.core.schemas import Input
from courriel.delivery.warmup import MAX_DAILY_CAP, MAX_SCHEDULE_DAYS, WarmupStatus
from courriel.operations.pools.service import Assignment, Pool
from courriel.web.deps import PrincipalDep, ServicesDep

router = APIRouter(tags=["pools"])


class PoolIn(Input):
    name: str = Field(min_length=1, max_length=64, description="Lower-case letters, digits, - _")
    description: str = Field(default="", max_length=1000)
    default: bool = Field(default=False, description="The pool of mail not assigned elsewhere")


class PoolAddressIn(Input):
    address: str = Field(min_length=2, max_length=45, description="IPv4 or IPv6 address")
    helo_name: str = Field(
        min_length=3, max_length=253, description="EHLO name: the address's reverse DNS name"
    )
    check_local: bool = Field(
        default=True, description="Refuse an address this host cannot send from"
    )


class AssignmentIn(Input):
    tenant_id: str = Field(min_length=1, max_length=40)
    mail_class: str | None = Field(
        default=None, max_length=20, description="marketing or transactional; null: all mail"
    )
    campaign_id: str | None = Field(default=None, max_length=40)


class WarmupIn(Input):
    schedule: list[Annotated[int, Field(ge=1, le=MAX_DAILY_CAP)]] | None = Field(
        default=None,
        max_length=MAX_SCHEDULE_DAYS,
        description="Daily caps from day 1; null: the provider's default schedule",
    )
    day: int = Field(default=1, ge=1, le=MAX_SCHEDULE_DAYS + 1, description="Day to start at")


class AssignmentOut(BaseModel):
    pool: str
    tenant_id: str
    scope: str


class AddressOut(BaseModel):
    address: str
    helo_name: str


class WarmupOut(BaseModel):
    pool: str
    provider: str
    schedule: list[int]
    day: int
    today: str = Field(description="The warm-up day's date (setting warmup_timezone)")
    cap: int | None = Field(description="Today's cap; null: the plan is complete")
    sent_today: int
    paused: bool
    paused_reason: str
    paused_at: dt.datetime | None


class PoolOut(BaseModel):
    name: str
    description: str
    default: bool
    addresses: list[AddressOut]
    assignments: list[AssignmentOut]
    warmup: list[WarmupOut]


def _assignment(a: Assignment) -> AssignmentOut:
    return AssignmentOut(pool=a.pool, tenant_id=a.tenant_id, scope=a.scope)


def _warmup(s: WarmupStatus) -> WarmupOut:
    return WarmupOut(
        pool=s.pool,
        provider=s.provider,
        schedule=s.schedule,
        day=s.day,
        today=s.today,
        cap=s.cap,
        sent_today=s.sent_today,
        paused=s.paused,
        paused_reason=s.paused_reason,
        paused_at=s.paused_at,
    )


def _out(pool: Pool) -> PoolOut:
    return PoolOut(
        name=pool.name,
        description=pool.description,
        default=pool.is_default,
        addresses=[AddressOut(address=a, helo_name=h) for a, h in pool.addresses],
        assignments=[_assignment(a) for a in pool.assignments],
        warmup=[_warmup(s) for s in pool.warmup],
    )


@router.get("/pools")
def list_pools(services: ServicesDep, principal: PrincipalDep) -> list[PoolOut]:
    """Every IP pool with its addresses, assignments and warm-up progress (admin only)."""
    admin = services.pools.administrator(principal)
    return [_out(p) for p in services.pools.pools(admin)]


@router.post("/pools", status_code=201)
def create_pool(body: PoolIn, services: ServicesDep, principal: PrincipalDep) -> PoolOut:
    """A new, empty pool (admin only)."""
    admin = services.pools.administrator(principal)
    return _out(services.pools.create(admin, body.name, body.description, default=body.default))


@router.get("/pools/{name}")
def get_pool(name: str, services: ServicesDep, principal: PrincipalDep) -> PoolOut:
    """One pool (admin only)."""
    return _out(services.pools.get(services.pools.administrator(principal), name))


@router.delete("/pools/{name}", status_code=204)
def delete_pool(name: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Delete a pool no tenant is assigned to, with its addresses and plans (admin only)."""
    services.pools.delete(services.pools.administrator(principal), name)
    return Response(status_code=204)


@router.put("/pools/{name}/default")
def make_default(name: str, services: ServicesDep, principal: PrincipalDep) -> PoolOut:
    """Make this the pool of mail no assignment places elsewhere (admin only)."""
    return _out(services.pools.make_default(services.pools.administrator(principal), name))


@router.post("/pools/{name}/addresses", status_code=201)
def add_address(
    name: str, body: PoolAddressIn, services: ServicesDep, principal: PrincipalDep
) -> PoolOut:
    """Add a source address and its EHLO name (admin only)."""
    admin = services.pools.administrator(principal)
    return _out(
        services.pools.add_address(
            admin, name, body.address, body.helo_name, check_local=body.check_local
        )
    )


@router.delete("/pools/{name}/addresses/{address}")
def remove_address(
    name: str, address: str, services: ServicesDep, principal: PrincipalDep
) -> PoolOut:
    """Take an address out of the pool (admin only)."""
    return _out(
        services.pools.remove_address(services.pools.administrator(principal), name, address)
    )


@router.post("/pools/{name}/assignments", status_code=201)
def assign(
    name: str, body: AssignmentIn, services: ServicesDep, principal: PrincipalDep
) -> AssignmentOut:
    """Send a tenant's mail (all, one class, or one campaign's) from this pool (admin only)."""
    admin = services.pools.administrator(principal)
    return _assignment(
        services.pools.assign(
            admin, name, body.tenant_id, mail_class=body.mail_class, campaign_id=body.campaign_id
        )
    )


@router.delete("/pools/{name}/assignments")
def unassign(  # noqa: PLR0917 (the scope's parts as query parameters)
    name: str,
    services: ServicesDep,
    principal: PrincipalDep,
    tenant_id: Annotated[str, Query(min_length=1, max_length=40)],
    mail_class: Annotated[str | None, Query(max_length=20)] = None,
    campaign_id: Annotated[str | None, Query(max_length=40)] = None,
) -> AssignmentOut:
    """Remove a tenant's assignment to this pool in one scope (admin only)."""
    admin = services.pools.administrator(principal)
    return _assignment(
        services.pools.unassign(
            admin, tenant_id, mail_class=mail_class, campaign_id=campaign_id, pool=name
        )
    )


@router.get("/pools/{name}/warmup")
def warmup_status(name: str, services: ServicesDep, principal: PrincipalDep) -> list[WarmupOut]:
    """The pool's plans: today's day, cap, sent today, paused and why (admin only)."""
    admin = services.pools.administrator(principal)
    services.pools.get(admin, name)
    return [_warmup(s) for s in services.pools.warmup_status(admin, name)]


@router.put("/pools/{name}/warmup/{provider}")
def start_warmup(
    name: str, provider: str, body: WarmupIn, services: ServicesDep, principal: PrincipalDep
) -> WarmupOut:
    """Create or replace the plan towards one provider (admin only)."""
    admin = services.pools.administrator(principal)
    return _warmup(services.pools.start_warmup(admin, name, provider, body.schedule, body.day))


@router.post("/pools/{name}/warmup/{provider}/resume")
def resume_warmup(
    name: str, provider: str, services: ServicesDep, principal: PrincipalDep
) -> WarmupOut:
    """Let a paused plan move on again (admin only)."""
    admin = services.pools.administrator(principal)
    return _warmup(services.pools.resume_warmup(admin, name, provider))


@router.delete("/pools/{name}/warmup/{provider}", status_code=204)
def stop_warmup(
    name: str, provider: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Delete a plan: nothing is capped towards that provider any more (admin only)."""
    services.pools.stop_warmup(services.pools.administrator(principal), name, provider)
    return Response(status_code=204)


@router.get("/sending-pools")
def my_pools(services: ServicesDep, principal: PrincipalDep) -> list[AssignmentOut]:
    """The pools this tenant's mail leaves from, by scope (read-only; stats:read)."""
    return [_assignment(a) for a in services.pools.for_tenant(principal)]
