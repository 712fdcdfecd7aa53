"""`courriel workflow-templates …`: the workflows shipped with Courriel (welcome,
re-engagement, re-permission), and a draft workflow made from one for a tenant.

Every command acts as the operator on one tenant (`--tenant`) and prints JSON.
"""

from __future__ import annotations

from typing import Annotated

import typer

from courriel.automation.catalogue_service import FromTemplate
from courriel.cli.workflows import DataDir, TenantOpt, _print, _services, _view
from courriel.core.principal import Principal

workflow_templates_app = typer.Typer(
    help="Workflow templates shipped with Courriel: list, show, make a workflow.",
    no_args_is_help=True,
)


@workflow_templates_app.command("list")
def list_templates(tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """The shipped templates: key, name, what each does."""
    with _services(data_dir) as services:
        found = services.workflow_templates.templates(Principal.operator(tenant))
        _print([{"key": t.key, "name": t.name, "summary": t.summary} for t in found])


@workflow_templates_app.command("show")
def show(key: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """One template's definition (with "{list_id}" holes) and what it leaves out."""
    with _services(data_dir) as services:
        t = services.workflow_templates.template(Principal.operator(tenant), key)
        _print({"key": t.key, "name": t.name, "definition": t.definition, "notes": t.notes})


@workflow_templates_app.command("create")
def create(  # noqa: PLR0917 (one option per part the tenant fills in)
    key: str,
    tenant: TenantOpt,
    list_id: Annotated[str, typer.Option("--list", help="The tenant's list")],
    from_email: Annotated[str, typer.Option("--from", help="Sender address")],
    from_name: Annotated[str, typer.Option("--from-name")] = "",
    name: Annotated[str, typer.Option("--name", help="The workflow's name")] = "",
    data_dir: DataDir = None,
) -> None:
    """A draft workflow from template KEY; its mails become the tenant's templates."""
    with _services(data_dir) as services:
        filling = FromTemplate(list_id, from_email, from_name, name)
        view = services.workflow_templates.create(Principal.operator(tenant), key, filling)
        _print(_view(view, definition=True))
