"""`courriel retention …` and `courriel register …`: list rules, dry run, run, register."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from courriel.cli.common import DataDir, TenantOpt, console, err, fail, open_services
from courriel.core.errors import CourrielError
from courriel.core.principal import Principal
from courriel.privacy.governance import (
    DEFAULT_CATEGORIES,
    GovernanceInput,
    register_csv,
    register_html,
    register_json,
)

retention_app = typer.Typer(help="Retention and consent expiry of lists.", no_args_is_help=True)
register_app = typer.Typer(help="The processing register (GDPR Art. 30).", no_args_is_help=True)


@retention_app.command("set")
def retention_set(
    tenant: TenantOpt,
    *,
    list_id: Annotated[str, typer.Option("--list", help="List id")],
    inactive_months: Annotated[
        int | None, typer.Option(help="Ask again after this many months without opens or clicks")
    ] = None,
    consent_months: Annotated[
        int | None, typer.Option(help="Ask again when consent is older than this many months")
    ] = None,
    confirm_days: Annotated[int, typer.Option(help="Days the link stays valid")] = 30,
    outcome: Annotated[str, typer.Option(help="remove or anonymize silent inactive contacts")] = (
        "remove"
    ),
    legal_basis: Annotated[str, typer.Option(help="For the register")] = "consent",
    category: Annotated[
        list[str] | None, typer.Option(help="Data category for the register (repeatable)")
    ] = None,
    recipient: Annotated[
        list[str] | None, typer.Option(help="Processor or recipient for the register (repeatable)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Set a list's retention rules and register entry."""
    services = open_services(data_dir)
    given = GovernanceInput(
        inactive_months=inactive_months,
        consent_months=consent_months,
        confirm_days=confirm_days,
        inactive_outcome=outcome,
        legal_basis=legal_basis,
        data_categories=category or list(DEFAULT_CATEGORIES),
        recipients=recipient or [],
    )
    try:
        row = services.governance.set(Principal.operator(tenant), list_id, given)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print(
        f"list {row.list_id}: inactive {row.inactive_months or '-'} months, consent "
        f"{row.consent_months or '-'} months, {row.confirm_days} days to confirm, "
        f"then {row.inactive_outcome.value}"
    )


@retention_app.command("report")
def retention_report(
    tenant: TenantOpt,
    list_id: Annotated[str | None, typer.Option("--list", help="Only this list")] = None,
    data_dir: DataDir = None,
) -> None:
    """Dry run: print (JSON lines) who a run now would mail, suppress, remove or anonymize."""
    services = open_services(data_dir)
    try:
        found = services.repermissions.report(Principal.operator(tenant), list_id)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    for item in found:
        typer.echo(
            json.dumps(
                {
                    "list_id": item.list_id,
                    "contact_id": item.contact_id,
                    "email": item.email,
                    "reason": item.reason.value,
                    "action": item.action,
                    "since": item.since.isoformat() if item.since else None,
                    "deadline": item.deadline.isoformat() if item.deadline else None,
                }
            )
        )
    err.print(f"{len(found)} contacts would be affected")


@retention_app.command("run")
def retention_run(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the rules once now (the engine runs them every retention_interval_seconds)."""
    services = open_services(data_dir)
    try:
        if tenant is None:
            done = services.repermissions.run_all()
        else:
            done = services.repermissions.run(Principal.operator(tenant))
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print(
        f"{done.sent} asked again, {done.suppressed} suppressed, {done.removed} removed, "
        f"{done.anonymized} anonymized, {done.forgotten} forgotten, {done.reduced} reduced"
    )


@register_app.command("export")
def register_export(
    tenant: TenantOpt,
    fmt: Annotated[str, typer.Option("--format", help="json, csv or html")] = "json",
    data_dir: DataDir = None,
) -> None:
    """Write the tenant's record of processing activities to standard output."""
    if fmt not in ("json", "csv", "html"):
        err.print("[red]error:[/red] --format: json, csv or html")
        raise typer.Exit(code=2)
    services = open_services(data_dir)
    try:
        entries = services.governance.register(Principal.operator(tenant))
        name = services.tenants.get(tenant).name
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    now = services.clock.now()
    if fmt == "csv":
        typer.echo(register_csv(entries), nl=False)
    elif fmt == "html":
        typer.echo(register_html(name, entries, now), nl=False)
    else:
        typer.echo(register_json(name, entries, now))
