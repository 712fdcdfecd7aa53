"""`courriel audit …`, `courriel retention …`, `courriel register …` (governance)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated

import typer

from courriel.cli.common import DataDir, TenantOpt, console, err, fail, open_services
from courriel.core.audit import AuditFilter
from courriel.core.errors import CourrielError, InvalidInputError
from courriel.core.principal import Principal
from courriel.privacy.audit_export import export_trail

audit_app = typer.Typer(help="The tenant's tamper-evident audit trail.", no_args_is_help=True)

ActorOpt = Annotated[str | None, typer.Option(help="Only this actor (key:…, operator, public)")]
ActionOpt = Annotated[str | None, typer.Option(help="Only this action (e.g. consent.withdrawn)")]
SinceOpt = Annotated[str | None, typer.Option(help="From this time on (ISO 8601 with zone)")]
UntilOpt = Annotated[str | None, typer.Option(help="Before this time (ISO 8601 with zone)")]


def parse_time(value: str | None, name: str) -> dt.datetime | None:
    """An ISO 8601 time given on the command line, or InvalidInputError naming the option."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(name, f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise InvalidInputError(name, "must include a time zone (e.g. 2026-01-01T00:00Z)")
    return parsed


def _filter(
    actor: str | None, action: str | None, since: str | None, until: str | None
) -> AuditFilter:
    return AuditFilter(
        actor=actor,
        action=action,
        since=parse_time(since, "--since"),
        until=parse_time(until, "--until"),
    ).checked()


@audit_app.command("anchor")
def audit_anchor(data_dir: DataDir = None) -> None:
    """Copy every tenant's chain head to the control database now (the engine does it
    periodically), so a tenant database rewritten later fails `audit verify`."""
    services = open_services(data_dir)
    try:
        done = services.audit.anchor_all([t.id for t in services.tenants.list()])
    finally:
        services.close()
    console.print(f"{done} audit chains anchored")


@audit_app.command("verify")
def audit_verify(tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Check the hash chain; exit 1 and name the first broken entry when it is broken."""
    services = open_services(data_dir)
    try:
        result = services.audit.verify(Principal.operator(tenant))
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    if result.ok:
        console.print(f"audit trail intact: {result.entries} entries")
        return
    err.print(
        f"[red]audit trail broken[/red] at entry {result.first_broken_seq}: {result.problem} "
        f"({result.entries} entries verified before it)"
    )
    raise typer.Exit(code=1)


@audit_app.command("list")
def audit_list(
    tenant: TenantOpt,
    *,
    actor: ActorOpt = None,
    action: ActionOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: Annotated[int, typer.Option(help="At most this many entries")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue after this entry")] = None,
    data_dir: DataDir = None,
) -> None:
    """Print entries as JSON lines, oldest first, then the next cursor if any."""
    services = open_services(data_dir)
    try:
        where = _filter(actor, action, since, until)
        page = services.audit.entries(Principal.operator(tenant), where, cursor, limit)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    for entry in page.items:
        typer.echo(
            json.dumps(
                {
                    "seq": entry.seq,
                    "occurred_at": entry.occurred_at.isoformat(),
                    "actor": entry.actor,
                    "action": entry.action,
                    "subject": entry.subject,
                    "detail": json.loads(entry.detail),
                    "source_ip": entry.source_ip,
                }
            )
        )
    if page.next_cursor:
        err.print(f"more: --cursor {page.next_cursor}")


@audit_app.command("export")
def audit_export(
    tenant: TenantOpt,
    *,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    actor: ActorOpt = None,
    action: ActionOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Write the trail (with each entry's hashes) to standard output."""
    if fmt not in ("jsonl", "csv"):
        err.print("[red]error:[/red] --format: jsonl or csv")
        raise typer.Exit(code=2)
    services = open_services(data_dir)
    try:
        where = _filter(actor, action, since, until)
        chunks = export_trail(
            services.storage,
            services.audit,
            Principal.operator(tenant),
            "csv" if fmt == "csv" else "jsonl",
            where=where,
        )
        for chunk in chunks:
            sys.stdout.write(chunk)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
