"""`courriel pools …` and `courriel warmup …`: IP pools and their warm-up plans.

The CLI on the host acts as the platform's operator (`OPERATOR`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from courriel.cli.common import DataDir, console, fail, open_services
from courriel.core.errors import CourrielError, InvalidInputError
from courriel.delivery.warmup import WarmupStatus
from courriel.operations.pools.service import OPERATOR, Pool, PoolService

pools_app = typer.Typer(help="IP pools: source addresses, EHLO names, who sends from which.")
warmup_app = typer.Typer(help="Warm-up plans: daily caps per pool and provider.")

T = TypeVar("T")
PoolArg = Annotated[str, typer.Argument(help="Pool name")]
ClassOpt = Annotated[
    str | None, typer.Option("--class", help="Only this mail class: marketing or transactional")
]
CampaignOpt = Annotated[str | None, typer.Option("--campaign", help="Only this campaign")]


def _run(data_dir: DataDir, action: Callable[[PoolService], T]) -> T:
    services = open_services(data_dir)
    try:
        return action(services.pools)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()


def _show(pool: Pool) -> None:
    marker = " (default)" if pool.is_default else ""
    console.print(f"[bold]{pool.name}[/bold]{marker} {pool.description}".rstrip())
    for address, helo in pool.addresses:
        console.print(f"  address {address}  EHLO {helo}")
    for a in pool.assignments:
        console.print(f"  assigned: tenant {a.tenant_id} ({a.scope})")
    for s in pool.warmup:
        _show_plan(s, indent="  ")


def _show_plan(s: WarmupStatus, indent: str = "") -> None:
    cap = "complete (no cap)" if s.cap is None else f"cap {s.cap}"
    state = f"PAUSED: {s.paused_reason}" if s.paused else "running"
    console.print(
        f"{indent}warm-up {s.pool}/{s.provider}: day {s.day} of {len(s.schedule)} ({s.today}), "
        f"{cap}, sent today {s.sent_today}, {state}"
    )


@pools_app.command("list")
def pools_list(data_dir: DataDir = None) -> None:
    """Every pool with its addresses, assignments and warm-up plans."""
    for pool in _run(data_dir, lambda p: p.pools(OPERATOR)):
        _show(pool)


@pools_app.command("create")
def pools_create(
    name: PoolArg,
    description: Annotated[str, typer.Option(help="What the pool is for")] = "",
    default: Annotated[bool, typer.Option("--default", help="Pool of unassigned mail")] = False,
    data_dir: DataDir = None,
) -> None:
    """Create an empty pool."""
    _show(_run(data_dir, lambda p: p.create(OPERATOR, name, description, default=default)))


@pools_app.command("delete")
def pools_delete(name: PoolArg, data_dir: DataDir = None) -> None:
    """Delete a pool no tenant is assigned to."""
    _run(data_dir, lambda p: p.delete(OPERATOR, name))
    console.print(f"pool {name} deleted")


@pools_app.command("default")
def pools_default(name: PoolArg, data_dir: DataDir = None) -> None:
    """Make this the pool of mail no assignment places elsewhere."""
    _show(_run(data_dir, lambda p: p.make_default(OPERATOR, name)))


@pools_app.command("add-address")
def pools_add_address(
    name: PoolArg,
    address: Annotated[str, typer.Argument(help="IPv4 or IPv6 source address")],
    helo: Annotated[str, typer.Option("--helo", help="EHLO name: the address's rDNS name")],
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Do not require the address on this host")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Add a source address and its EHLO name to a pool."""
    _show(
        _run(
            data_dir,
            lambda p: p.add_address(OPERATOR, name, address, helo, check_local=not no_check),
        )
    )


@pools_app.command("remove-address")
def pools_remove_address(
    name: PoolArg,
    address: Annotated[str, typer.Argument(help="Source address")],
    data_dir: DataDir = None,
) -> None:
    """Take a source address out of a pool."""
    _show(_run(data_dir, lambda p: p.remove_address(OPERATOR, name, address)))


@pools_app.command("assign")
def pools_assign(
    name: PoolArg,
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id")],
    mail_class: ClassOpt = None,
    campaign: CampaignOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Send a tenant's mail (all of it, one class, or one campaign's) from a pool."""
    a = _run(
        data_dir,
        lambda p: p.assign(OPERATOR, name, tenant, mail_class=mail_class, campaign_id=campaign),
    )
    console.print(f"tenant {a.tenant_id} ({a.scope}) sends from pool {a.pool}")


@pools_app.command("unassign")
def pools_unassign(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id")],
    mail_class: ClassOpt = None,
    campaign: CampaignOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Remove a tenant's assignment in one scope."""
    a = _run(
        data_dir,
        lambda p: p.unassign(OPERATOR, tenant, mail_class=mail_class, campaign_id=campaign),
    )
    console.print(f"tenant {a.tenant_id} ({a.scope}) no longer sends from pool {a.pool}")


@pools_app.command("addresses")
def pools_addresses(data_dir: DataDir = None) -> None:
    """Every sending address of every pool, one a line (for blocklist checks)."""
    for address in _run(data_dir, lambda p: p.sending_addresses()):
        console.print(address)


@warmup_app.command("status")
def warmup_status(
    pool: Annotated[str | None, typer.Argument(help="Only this pool")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
    data_dir: DataDir = None,
) -> None:
    """Each plan: today's day, cap, sent today, paused and why."""
    for s in _run(data_dir, lambda p: p.warmup_status(OPERATOR, pool)):
        if as_json:
            console.print_json(json.dumps({**s.__dict__, "paused_at": str(s.paused_at or "")}))
        else:
            _show_plan(s)


def _schedule(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise fail(
            InvalidInputError("schedule", f"{text!r} is not a comma-separated list of caps")
        ) from None


@warmup_app.command("start")
def warmup_start(
    pool: PoolArg,
    provider: Annotated[str, typer.Argument(help="google, yahoo, microsoft, default, ...")],
    schedule: Annotated[
        str | None, typer.Option(help="Daily caps from day 1, e.g. 50,100,200 (default: built in)")
    ] = None,
    day: Annotated[int, typer.Option(min=1, help="Start at this day of the schedule")] = 1,
    data_dir: DataDir = None,
) -> None:
    """Create or replace a pool's plan towards one provider."""
    caps = _schedule(schedule)
    _show_plan(_run(data_dir, lambda p: p.start_warmup(OPERATOR, pool, provider, caps, day)))


@warmup_app.command("resume")
def warmup_resume(pool: PoolArg, provider: str, data_dir: DataDir = None) -> None:
    """Let a paused plan move on again."""
    _show_plan(_run(data_dir, lambda p: p.resume_warmup(OPERATOR, pool, provider)))


@warmup_app.command("stop")
def warmup_stop(pool: PoolArg, provider: str, data_dir: DataDir = None) -> None:
    """Delete a plan: nothing is capped towards that provider any more."""
    _run(data_dir, lambda p: p.stop_warmup(OPERATOR, pool, provider))
    console.print(f"warm-up of {pool} towards {provider} stopped")
