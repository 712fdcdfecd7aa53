"""`courriel campaigns …`: send, schedule, pause, resume, cancel, progress and checks of
campaigns; `… policy` (state, evaluation, an operator's lift) and `… domains` (sender domains).

Every command acts as the operator on one tenant (`--tenant`) and prints JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from courriel.campaigns.models import Campaign
from courriel.config import Settings
from courriel.core.errors import CourrielError
from courriel.core.principal import Principal
from courriel.policy.models import PolicyState
from courriel.services import Services

campaigns_app = typer.Typer(
    help="Campaigns: send, schedule, pause, resume, cancel, progress, checks.",
    no_args_is_help=True,
)
policy_app = typer.Typer(help="The sending policy of a tenant.", no_args_is_help=True)
domains_app = typer.Typer(help="Sender domains of a tenant.", no_args_is_help=True)
campaigns_app.add_typer(policy_app, name="policy")
campaigns_app.add_typer(domains_app, name="domains")
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant id")]


@contextmanager
def _services(data_dir: Path | None) -> Iterator[Services]:
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    services = Services.build(settings)
    services.tenants.migrate_shared()
    try:
        yield services
    except CourrielError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(code=2) from None
    finally:
        services.close()


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, default=str, sort_keys=True))


def _campaign(campaign: Campaign) -> dict[str, Any]:
    return {"id": campaign.id, "name": campaign.name, "status": campaign.status.value}


def _lifecycle(
    action: Callable[[Services, Principal, str], Campaign],
) -> Callable[[str, str, Path | None], None]:
    def command(campaign_id: str, tenant: str, data_dir: Path | None) -> None:
        with _services(data_dir) as services:
            _print(_campaign(action(services, Principal.operator(tenant), campaign_id)))

    return command


@campaigns_app.command("send")
def send(campaign_id: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Start sending now (the first batch is spooled before this returns)."""
    _lifecycle(lambda s, p, c: s.campaign_control.send(p, c))(campaign_id, tenant, data_dir)


@campaigns_app.command("pause")
def pause(campaign_id: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Pause: waiting messages leave the spool."""
    _lifecycle(lambda s, p, c: s.campaign_control.pause(p, c))(campaign_id, tenant, data_dir)


@campaigns_app.command("resume")
def resume(campaign_id: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Resume a paused campaign."""
    _lifecycle(lambda s, p, c: s.campaign_control.resume(p, c))(campaign_id, tenant, data_dir)


@campaigns_app.command("cancel")
def cancel(campaign_id: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Cancel for good: waiting messages are skipped."""
    _lifecycle(lambda s, p, c: s.campaign_control.cancel(p, c))(campaign_id, tenant, data_dir)


@campaigns_app.command("tracking")
def tracking(
    *,
    tenant: TenantOpt,
    on: Annotated[bool, typer.Option("--on/--off", help="Track opens and clicks, or not")],
    campaign: Annotated[str | None, typer.Option(help="A draft or scheduled campaign")] = None,
    list_id: Annotated[str | None, typer.Option("--list", help="A list (all its mail)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Switch tracking of opens and clicks for a campaign or a list."""
    if (campaign is None) == (list_id is None):
        raise typer.BadParameter("give exactly one of --campaign or --list")
    with _services(data_dir) as services:
        operator = Principal.operator(tenant)
        if campaign is not None:
            changed = services.campaign_control.update(operator, campaign, tracking=on)
            _print({**_campaign(changed), "tracking": changed.tracking})
        else:
            assert list_id is not None
            found = services.audience.set_list_tracking(operator, list_id, on)
            _print({"id": found.id, "name": found.name, "tracking": found.tracking})


@campaigns_app.command("schedule")
def schedule(
    campaign_id: str,
    *,
    tenant: TenantOpt,
    at: Annotated[str | None, typer.Option(help="Instant with offset, ISO 8601")] = None,
    local_time: Annotated[
        str | None, typer.Option(help="YYYY-MM-DDTHH:MM in each contact's timezone")
    ] = None,
    default_timezone: Annotated[str, typer.Option(help="For contacts without one")] = "UTC",
    data_dir: DataDir = None,
) -> None:
    """Send at an instant, or at a local time in each contact's timezone."""
    with _services(data_dir) as services:
        try:
            when = dt.datetime.fromisoformat(at) if at else None
        except ValueError:
            err.print("[red]error:[/red] --at: an ISO 8601 instant such as 2026-05-01T09:00+02:00")
            raise typer.Exit(code=2) from None
        campaign = services.campaign_control.schedule(
            Principal.operator(tenant),
            campaign_id,
            at=when,
            local_time=local_time,
            default_timezone=default_timezone,
        )
        _print(_campaign(campaign))


@campaigns_app.command("progress")
def progress(campaign_id: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Live progress: pending, queued, sent, delivered, failed, …"""
    with _services(data_dir) as services:
        _print(asdict(services.campaign_control.progress(Principal.operator(tenant), campaign_id)))


@campaigns_app.command("check")
def check(campaign_id: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """The content checklist (exit 1 when a blocking item fails)."""
    with _services(data_dir) as services:
        checklist = services.content_checks.checklist(Principal.operator(tenant), campaign_id)
        _print(checklist.as_dict())
    if checklist.blocking:
        raise typer.Exit(code=1)


@campaigns_app.command("link-check")
def link_check(
    tenant: TenantOpt,
    campaigns: Annotated[
        bool | None, typer.Option("--campaigns/--no-campaigns", help="Check campaigns' links")
    ] = None,
    messages: Annotated[
        bool | None, typer.Option("--messages/--no-messages", help="Check Send API messages")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Show or switch the tenant's link checking (the settings may require more)."""
    with _services(data_dir) as services:
        principal = Principal.operator(tenant)
        if campaigns is None and messages is None:
            choice = services.link_check_preferences.get(principal)
        else:
            choice = services.link_check_preferences.set(
                principal, campaigns=campaigns, messages=messages
            )
        _print(asdict(choice))


@policy_app.command("show")
def policy_show(tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """The tenant's policy state, why, and the figures now."""
    with _services(data_dir) as services:
        status = services.policy.status(Principal.operator(tenant))
        _print({**asdict(status), "state": status.state.value})


@policy_app.command("evaluate")
def policy_evaluate(tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Evaluate the tenant now (the engine does it continuously)."""
    with _services(data_dir) as services:
        _print({"state": services.policy.evaluate(tenant).value})


@policy_app.command("lift")
def policy_lift(
    tenant: TenantOpt,
    reason: Annotated[str, typer.Option(help="Why (recorded with the change)")],
    operator: Annotated[str, typer.Option(help="Who lifts it")] = "operator",
    to: Annotated[str, typer.Option(help="ok or limited")] = "ok",
    data_dir: DataDir = None,
) -> None:
    """Lift a suspension or a limit, with a recorded reason."""
    if to not in ("ok", "limited"):
        err.print("[red]error:[/red] --to: ok or limited")
        raise typer.Exit(code=2)
    with _services(data_dir) as services:
        services.policy.lift(tenant, reason, actor=f"operator:{operator}", to=PolicyState(to))
        _print({"state": to})


@domains_app.command("add")
def domains_add(domain: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Add a sender domain and print the DNS records to publish."""
    with _services(data_dir) as services:
        principal = Principal.operator(tenant)
        services.sender_domains.add(principal, domain)
        _print([asdict(r) for r in services.sender_domains.records(principal, domain)])


@domains_app.command("verify")
def domains_verify(domain: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Check ownership, SPF, DKIM and DMARC in DNS now."""
    with _services(data_dir) as services:
        row = services.sender_domains.verify(Principal.operator(tenant), domain)
        _print({"domain": row.domain, "status": row.status.value, "checks": row.checks})
