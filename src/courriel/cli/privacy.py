"""`courriel privacy …`: data-subject requests from the command line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from courriel.cli.common import DataDir, ReasonOpt, TenantOpt, console, fail, open_services
from courriel.core.errors import CourrielError, InvalidInputError
from courriel.core.principal import Principal
from courriel.privacy.models import DataSubjectRequest, RequestStatus
from courriel.privacy.rights import Actor, Format, NewRequest

privacy_app = typer.Typer(
    help="Data-subject requests: access, portability, rectification, erasure, restriction, "
    "objection.",
    no_args_is_help=True,
)

FORMATS: dict[str, Format] = {"json": "json", "html": "html", "csv": "csv"}


def _actor(tenant: str, reason: str | None = None) -> Actor:
    return Actor.of(Principal.staff_of(tenant, reason), channel="cli")


def _as_dict(row: DataSubjectRequest) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type.value,
        "status": row.status.value,
        "contact_id": row.contact_id,
        "received_at": row.received_at.isoformat(),
        "deadline_at": row.deadline_at.isoformat(),
        "closed_at": row.closed_at.isoformat() if row.closed_at else None,
        "detail": row.detail,
    }


def _changes(pairs: list[str]) -> dict[str, Any] | None:
    if not pairs:
        return None
    changes: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInputError("change", f"{pair!r} is not FIELD=VALUE")
        if name.startswith("properties."):
            changes.setdefault("properties", {})[name.removeprefix("properties.")] = value
        else:
            changes[name] = value or None
    return changes


@privacy_app.command("create")
def create(
    kind: Annotated[str, typer.Argument(help="access, portability, rectification, erasure, …")],
    *,
    tenant: TenantOpt,
    contact: Annotated[str | None, typer.Option(help="Contact id")] = None,
    email: Annotated[
        str | None, typer.Option(help="Contact address (instead of --contact)")
    ] = None,
    received_at: Annotated[
        str | None, typer.Option(help="When the person asked, ISO 8601 with zone (default: now)")
    ] = None,
    change: Annotated[
        list[str] | None, typer.Option(help="Rectification: FIELD=VALUE (repeatable)")
    ] = None,
    lift: Annotated[bool, typer.Option(help="Lift a restriction or objection")] = False,
    ground: Annotated[
        str | None,
        typer.Option(help="Objection: direct-marketing (no marketing) or profiling (no tracking)"),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Record a data-subject request (open, deadline 30 days after receipt)."""
    services = open_services(data_dir)
    try:
        received = dt.datetime.fromisoformat(received_at) if received_at else None
        created = services.privacy_rights.create(
            _actor(tenant),
            NewRequest(kind, contact, email, received, _changes(change or []), lift, ground),
        )
    except ValueError:
        raise fail(InvalidInputError("received-at", "not an ISO 8601 time")) from None
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print_json(json.dumps(_as_dict(created)))


@privacy_app.command("list")
def list_requests(
    tenant: TenantOpt,
    status: Annotated[str | None, typer.Option(help="open, fulfilled or rejected")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
    data_dir: DataDir = None,
) -> None:
    """The tenant's requests, oldest deadline first, overdue ones marked."""
    services = open_services(data_dir)
    try:
        wanted = RequestStatus(status) if status else None
        page = services.privacy_rights.list_requests(_actor(tenant), None, 500, status=wanted)
    except ValueError:
        raise fail(InvalidInputError("status", "must be open, fulfilled or rejected")) from None
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    now = services.clock.now()
    if as_json:
        for row in page.items:
            typer.echo(json.dumps(_as_dict(row)))
        return
    table = Table("id", "type", "status", "contact", "deadline", "")
    for row in sorted(page.items, key=lambda r: r.deadline_at):
        late = row.status is RequestStatus.OPEN and now > row.deadline_at
        table.add_row(
            row.id,
            row.type.value,
            row.status.value,
            row.contact_id,
            row.deadline_at.date().isoformat(),
            "[red]overdue[/red]" if late else "",
        )
    console.print(table)


@privacy_app.command("fulfil")
def fulfil(request_id: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Do what the request asks, now, and close it (an erasure prints its certificate)."""
    services = open_services(data_dir)
    try:
        done = services.privacy_rights.fulfil(_actor(tenant), request_id)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print_json(json.dumps(done.certificate or _as_dict(done)))


@privacy_app.command("reject")
def reject(
    request_id: str,
    tenant: TenantOpt,
    reason: Annotated[str, typer.Option(help="Why, as told to the person")],
    data_dir: DataDir = None,
) -> None:
    """Close a request without acting on it."""
    services = open_services(data_dir)
    try:
        done = services.privacy_rights.reject(_actor(tenant), request_id, reason)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print_json(json.dumps(_as_dict(done)))


@privacy_app.command("export")
def export(  # noqa: PLR0917 (typer options)
    request_id: str,
    tenant: TenantOpt,
    fmt: Annotated[str, typer.Option("--format", help="json, html or csv")] = "json",
    output: Annotated[Path | None, typer.Option(help="Write to this file")] = None,
    reason: ReasonOpt = None,
    data_dir: DataDir = None,
) -> None:
    """The person's data for an access or portability request (needs --reason)."""
    services = open_services(data_dir)
    try:
        if fmt not in FORMATS:
            raise InvalidInputError("format", "must be json, html or csv")
        body = services.privacy_rights.export(_actor(tenant, reason), request_id, FORMATS[fmt])
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    if output is None:
        typer.echo(body, nl=False)
    else:
        output.write_text(body, encoding="utf-8")
        console.print(f"wrote {output}")
