"""What every sub-command module shares: the data-dir and tenant options,
opening the services of an installation, and turning a refusal into exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from courriel.config import Settings
from courriel.core.errors import CourrielError
from courriel.services import Services

console = Console()
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant id")]


def open_services(data_dir: Path | None) -> Services:
    """The services of the installation in `data_dir` (or the configured one), migrated."""
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    services = Services.build(settings)
    services.tenants.migrate_shared()
    return services


def fail(exc: CourrielError) -> typer.Exit:
    """Print the refusal (it names the problem) and exit 2, as for a usage error."""
    err.print(f"[red]error:[/red] {exc.detail}")
    return typer.Exit(code=2)


# Installation staff reading a tenant's personal data say why; the tenant's
# audit trail records it (core.principal.Principal.staff_of).
ReasonOpt = Annotated[
    str | None,
    typer.Option("--reason", help="Why you read this tenant's personal data (audited)"),
]
