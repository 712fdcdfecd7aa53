"""`courriel hygiene …`: the disposable-domain list, a list's role-address rule, one address."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from courriel.audience.hygiene.disposable import install_list, installed_path
from courriel.audience.models import RoleAddresses
from courriel.cli.common import DataDir, TenantOpt, console, fail, open_services
from courriel.config import Settings
from courriel.core.addresses import normalize_address
from courriel.core.errors import CourrielError
from courriel.core.principal import Principal

hygiene_app = typer.Typer(
    help="List hygiene: disposable domains, role addresses, mail domains.", no_args_is_help=True
)


@hygiene_app.command("update-disposable")
def update_disposable(
    source: Annotated[str, typer.Argument(help="A file path or an http(s) URL of the list")],
    data_dir: DataDir = None,
) -> None:
    """Replace the disposable-domain list with SOURCE (one domain a line, # comments).

    The list is checked whole before it replaces the one in force.
    """
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    try:
        count = install_list(Path(settings.data_dir), source)
    except CourrielError as exc:
        raise fail(exc) from None
    except OSError as exc:
        console.print(f"[red]error:[/red] source: {exc}")
        raise typer.Exit(code=2) from None
    console.print(f"{count:,} disposable domains in {installed_path(Path(settings.data_dir))}")


@hygiene_app.command("role-addresses")
def role_addresses(
    rule: Annotated[str, typer.Argument(help="flag or refuse")],
    *,
    list_id: Annotated[str, typer.Option("--list", help="The list")],
    tenant: TenantOpt,
    data_dir: DataDir = None,
) -> None:
    """Flag or refuse role addresses (postmaster@, noreply@…) on a list."""
    services = open_services(data_dir)
    try:
        changed = services.audience.set_list_role_addresses(
            Principal.operator(tenant), list_id, rule
        )
    except CourrielError as exc:
        raise fail(exc) from None
    finally:
        services.close()
    console.print(f"list {changed.id}: role addresses {changed.role_addresses.value}")


@hygiene_app.command("check")
def check_address(
    email: str,
    rule: Annotated[str, typer.Option(help="The list's role-address rule")] = "flag",
    data_dir: DataDir = None,
) -> None:
    """Would EMAIL be refused at import? Prints the reason (exit 1) or "ok"."""
    services = open_services(data_dir)
    try:
        address = normalize_address(email)
        refused = services.hygiene.refusal(address, RoleAddresses(rule))
    except CourrielError as exc:
        raise fail(exc) from None
    except ValueError:
        console.print("[red]error:[/red] --rule: flag or refuse")
        raise typer.Exit(code=2) from None
    finally:
        services.close()
    if refused is not None:
        console.print(refused.reason)
        raise typer.Exit(code=1)
    console.print("ok")
