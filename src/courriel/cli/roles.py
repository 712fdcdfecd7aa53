"""`courriel roles …`: a tenant's custom roles and its users' list and field rights."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from courriel.cli.common import DataDir, TenantOpt, console, fail, open_services
from courriel.core.errors import CourrielError, InvalidInputError
from courriel.core.principal import Principal

roles_app = typer.Typer(
    help="Roles (built-in and custom) and users' lists and field rights.", no_args_is_help=True
)

CapOpt = Annotated[list[str], typer.Option("--capability", help="A capability (repeat)")]
FieldOpt = Annotated[
    list[str] | None,
    typer.Option("--field", help="FIELD=hidden|visible|editable (repeat), e.g. email=hidden"),
]


def _fields(values: list[str] | None) -> dict[str, str]:
    fields: dict[str, str] = {}
    for value in values or []:
        name, sep, access = value.partition("=")
        if not sep:
            raise InvalidInputError("--field", f"{value!r} is not FIELD=ACCESS")
        fields[name.strip()] = access.strip()
    return fields


@roles_app.command("list")
def roles_list(tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """The built-in roles and the tenant's own."""
    services = open_services(data_dir)
    try:
        roles = services.roles.list(Principal.operator(tenant))
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    table = Table("role", "kind", "fields", "capabilities")
    for role in roles:
        fields = ", ".join(f"{k}={v}" for k, v in role.fields.as_dict().items())
        table.add_row(
            role.name,
            "built-in" if role.builtin else "custom",
            f"{role.fields.default.value}{'; ' + fields if fields else ''}",
            " ".join(sorted(c.value for c in role.capabilities)),
        )
    console.print(table)


@roles_app.command("add")
def roles_add(  # noqa: PLR0917 (the role's parts as options)
    name: str,
    tenant: TenantOpt,
    capability: CapOpt,
    field_default: Annotated[str, typer.Option(help="hidden, visible or editable")] = "visible",
    field: FieldOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Create a custom role."""
    services = open_services(data_dir)
    try:
        role = services.roles.create(
            Principal.operator(tenant), name, capability, field_default, _fields(field)
        )
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print(f"role [bold]{role.name}[/bold] created")


@roles_app.command("remove")
def roles_remove(name: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Remove a custom role no user holds."""
    services = open_services(data_dir)
    try:
        services.roles.delete(Principal.operator(tenant), name)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print(f"role {name} removed")


@roles_app.command("assign")
def roles_assign(user: str, role: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Give a user (id or email) a custom role."""
    services = open_services(data_dir)
    operator = Principal.operator(tenant)
    try:
        found = services.users.find(operator, user)
        services.roles.assign(operator, found.id, role)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print(f"{found.email} now has the role {role}")


@roles_app.command("rights")
def roles_rights(  # noqa: PLR0917 (the rights as options)
    user: str,
    tenant: TenantOpt,
    list_id: Annotated[
        list[str] | None, typer.Option("--list", help="A list the user may reach (repeat)")
    ] = None,
    all_lists: Annotated[bool, typer.Option("--all-lists", help="Every list")] = False,
    field: FieldOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Set a user's lists (--list … or --all-lists) and per-field overrides."""
    services = open_services(data_dir)
    operator = Principal.operator(tenant)
    try:
        if all_lists == bool(list_id):
            raise InvalidInputError("--list", "give --list (one or more) or --all-lists")
        found = services.users.find(operator, user)
        services.roles.set_rights(
            operator, found.id, None if all_lists else list_id, _fields(field)
        )
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print(f"rights of {found.email} set")
