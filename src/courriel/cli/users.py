"""`courriel users …`: the operator manages a tenant's team."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from courriel.cli.common import DataDir, TenantOpt, console, fail, open_services
from courriel.core.errors import CourrielError
from courriel.core.principal import Principal

users_app = typer.Typer(help="A tenant's users (its team).", no_args_is_help=True)

UserArg = Annotated[str, typer.Argument(help="User id (usr_…) or email address")]


@users_app.command("add")
def users_add(
    email: str,
    tenant: TenantOpt,
    role: Annotated[str, typer.Option(help="owner, admin, marketer, analyst, …")] = "marketer",
    name: Annotated[str, typer.Option(help="Display name")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create a user and print a one-time password, to be changed at first sign-in."""
    services = open_services(data_dir)
    try:
        created = services.users.create(Principal.operator(tenant), email, role, name)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print(f"user [bold]{created.user.id}[/bold] ({created.user.email}) created")
    console.print(f"one-time password (shown once): [bold]{created.one_time_password}[/bold]")


@users_app.command("invite")
def users_invite(
    email: str,
    tenant: TenantOpt,
    role: Annotated[str, typer.Option(help="owner, admin, marketer, analyst, …")] = "marketer",
    name: Annotated[str, typer.Option(help="Display name")] = "",
    data_dir: DataDir = None,
) -> None:
    """Invite someone by email: a signed, single-use link, valid COURRIEL_INVITATION_HOURS."""
    services = open_services(data_dir)
    try:
        invited = services.invitations.invite(Principal.operator(tenant), email, role, name)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print(f"invited {invited.user.email} as {invited.user.role} ({invited.user.id})")


@users_app.command("list")
def users_list(tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """List the tenant's users."""
    services = open_services(data_dir)
    try:
        users = services.users.list(Principal.operator(tenant))
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    table = Table("id", "email", "role", "status", "2FA")
    for user in users:
        table.add_row(
            user.id, user.email, user.role, user.status.value, "yes" if user.totp_enabled_at else ""
        )
    console.print(table)


def _act(action: str, user: str, tenant: str, data_dir: DataDir) -> None:
    services = open_services(data_dir)
    operator = Principal.operator(tenant)
    try:
        found = services.users.find(operator, user)
        method = {
            "disable": services.users.disable,
            "enable": services.users.enable,
            "reset-2fa": services.users.reset_second_factor,
            "make-owner": services.users.transfer_ownership,
        }[action]
        method(operator, found.id)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print(f"{action}: done for {found.id} ({found.email})")


@users_app.command("disable")
def users_disable(user: UserArg, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Disable a user: sign-in refused, sessions ended (never the owner)."""
    _act("disable", user, tenant, data_dir)


@users_app.command("enable")
def users_enable(user: UserArg, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Let a disabled user sign in again."""
    _act("enable", user, tenant, data_dir)


@users_app.command("reset-2fa")
def users_reset_2fa(user: UserArg, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Remove a user's second factors (TOTP, passkeys, recovery codes)."""
    _act("reset-2fa", user, tenant, data_dir)


@users_app.command("make-owner")
def users_make_owner(user: UserArg, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Transfer ownership to this user; the former owner becomes an admin."""
    _act("make-owner", user, tenant, data_dir)


@users_app.command("sign-out")
def users_sign_out(user: UserArg, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """End every session of a user (they sign in again)."""
    services = open_services(data_dir)
    try:
        found = services.users.find(Principal.operator(tenant), user)
        ended = services.sessions.end_all(found.id)
        services.audit.record(
            tenant, "operator", "user.signed_out", f"user:{found.id}", {"ended": ended}
        )
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print(f"{ended} sessions of {found.email} ended")


@users_app.command("max-age")
def users_max_age(
    user: UserArg,
    tenant: TenantOpt,
    days: Annotated[int, typer.Option(help="Days a password lasts; 0 turns expiry off")] = 0,
    data_dir: DataDir = None,
) -> None:
    """Set how long a user's password lasts (off by default)."""
    services = open_services(data_dir)
    operator = Principal.operator(tenant)
    try:
        found = services.users.find(operator, user)
        services.credentials.set_max_age(operator, found.id, days or None)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print(
        f"password of {found.email}: " + (f"expires after {days} days" if days else "never expires")
    )


@users_app.command("policy")
def users_policy(  # noqa: PLR0917 (typer options, each named)
    tenant: TenantOpt,
    min_length: Annotated[int | None, typer.Option(help="Minimum password length (8-128)")] = None,
    history: Annotated[int | None, typer.Option(help="Refuse the last N passwords (0-24)")] = None,
    require_2fa: Annotated[
        bool | None, typer.Option("--require-2fa/--no-require-2fa", help="Whole team needs 2FA")
    ] = None,
    composition: Annotated[
        bool | None, typer.Option("--composition/--no-composition", help="Mixed characters")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Show or change the team's sign-in policy."""
    services = open_services(data_dir)
    changes = {
        name: value
        for name, value in {
            "min_password_length": min_length,
            "password_history": history,
            "require_second_factor": require_2fa,
            "require_composition": composition,
        }.items()
        if value is not None
    }
    try:
        if changes:
            policy = services.credentials.update_policy(Principal.operator(tenant), **changes)
        else:
            policy = services.credentials.policy(tenant)
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    for name, value in policy.__dict__.items():
        console.print(f"{name}: {value}")
