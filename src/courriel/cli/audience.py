"""`courriel contacts …` and `courriel segments …`: imports, exports and segment counts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from courriel.audience.importer import ImportRequest
from courriel.audience.search import ContactSearch, parse_property
from courriel.audience.segments.service import segment_condition
from courriel.cli.common import DataDir, ReasonOpt, TenantOpt, console, err, fail, open_services
from courriel.core.errors import CourrielError
from courriel.core.principal import Principal

contacts_app = typer.Typer(help="Contacts: import, export and search.", no_args_is_help=True)
segments_app = typer.Typer(help="Segments: count contacts by a filter.", no_args_is_help=True)


@contacts_app.command("import")
def import_contacts(
    file: Path,
    *,
    list_id: Annotated[str, typer.Option("--list", help="List to import into")],
    tenant: TenantOpt,
    source: Annotated[str, typer.Option(help="Where the addresses came from")] = "customers",
    legal_basis: Annotated[str, typer.Option(help="consent, contract, …")] = "consent",
    confirmed: Annotated[bool, typer.Option(help="They already confirmed (double opt-in)")] = False,
    data_dir: DataDir = None,
) -> None:
    """Import a CSV or XLSX FILE into a list, with a progress bar."""
    services = open_services(data_dir)
    principal = Principal.operator(tenant)
    request = ImportRequest(
        list_id=list_id,
        file_name=file.name,
        legal_basis=legal_basis,
        source=source,
        confirmed=confirmed,
    )
    columns = (
        SpinnerColumn(),
        TextColumn("importing"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
    )
    try:
        imports = services.audience.imports
        job = imports.start(principal, request, file)
        with Progress(*columns, console=err) as progress:
            task = progress.add_task("import", total=None)
            job = imports.run(
                principal, job, request, file, lambda n: progress.update(task, completed=n)
            )
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print(
        f"import {job.id}: {job.rows_read} rows read, {job.imported} imported, "
        f"{job.unchanged} unchanged, {job.rejected} rejected, "
        f"{job.flagged} role addresses flagged"
    )
    if job.unchecked_domains:
        console.print(
            f"{job.unchecked_domains} domains not checked for mail servers: DNS unreachable"
        )


@contacts_app.command("export")
def export_contacts(  # noqa: PLR0917 (typer options)
    list_id: Annotated[str, typer.Option("--list", help="List to export")],
    tenant: TenantOpt,
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    segment: Annotated[str | None, typer.Option(help="Segment expression")] = None,
    reason: ReasonOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Write a list's contacts with consent data to standard output (needs --reason)."""
    if fmt not in ("csv", "json"):
        err.print("[red]error:[/red] --format: csv or json")
        raise typer.Exit(code=2)
    services = open_services(data_dir)
    principal = Principal.staff_of(tenant, reason)
    try:
        condition = None
        if segment:
            with services.storage.tenant(tenant)() as session:
                condition = segment_condition(session, segment, services.clock)
        chunks = services.audience.exports.export(
            principal,
            list_id,
            "csv" if fmt == "csv" else "json",
            condition,
            segment or "",
        )
        for chunk in chunks:
            sys.stdout.write(chunk)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()


@contacts_app.command("search")
def search_contacts(  # noqa: PLR0917 (typer: one parameter per option)
    tenant: TenantOpt,
    email: Annotated[str | None, typer.Option(help="Exact address")] = None,
    email_prefix: Annotated[str | None, typer.Option(help="Address starts with")] = None,
    name: Annotated[str | None, typer.Option(help="In the first or last name")] = None,
    prop: Annotated[
        str | None, typer.Option("--property", help="name:value, e.g. city:Paris")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many")] = 100,
    data_dir: DataDir = None,
) -> None:
    """Contacts matching every criterion given, one JSON object a line."""
    services = open_services(data_dir)
    try:
        search = ContactSearch(email, email_prefix, name, parse_property(prop))
        page = services.audience.list_contacts(Principal.operator(tenant), None, limit, search)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    for contact in page.items:
        shown = {
            "id": contact.id,
            "email": contact.email,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
        }
        typer.echo(json.dumps(shown, ensure_ascii=False))


@segments_app.command("count")
def count(expression: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """How many contacts EXPRESSION selects now."""
    services = open_services(data_dir)
    try:
        found = services.audience.segments.count(Principal.operator(tenant), expression)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    typer.echo(json.dumps({"count": found}))
