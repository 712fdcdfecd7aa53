"""`courriel workflows …`: list, show, create (from a JSON or YAML file), edit, activate,
pause, archive and the figures of workflows; `run` drives one engine pass.

Every command acts as the operator on one tenant (`--tenant`) and prints JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from courriel.automation.service import WorkflowView
from courriel.config import Settings
from courriel.core.errors import CourrielError, InvalidInputError
from courriel.core.principal import Principal
from courriel.services import Services

workflows_app = typer.Typer(
    help="Automation workflows: create, activate, pause, archive, figures.",
    no_args_is_help=True,
)
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory")]
TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant id")]
FileOpt = Annotated[
    Path, typer.Option("--file", help="The definition, as JSON or YAML (.yaml, .yml)")
]


@contextmanager
def _services(data_dir: Path | None) -> Iterator[Services]:
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    services = Services.build(settings)
    services.tenants.migrate_shared()
    try:
        yield services
    except CourrielError as exc:
        field = f"{exc.field}: " if isinstance(exc, InvalidInputError) else ""
        err.print(f"[red]error:[/red] {field}{exc.detail}")
        raise typer.Exit(code=2) from None
    finally:
        services.close()


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, default=str, sort_keys=True))


def _view(view: WorkflowView, *, definition: bool = False) -> dict[str, Any]:
    w = view.workflow
    shown: dict[str, Any] = {
        "id": w.id,
        "name": w.name,
        "status": w.status.value,
        "trigger": w.trigger_kind,
        "version": w.version,
    }
    if definition:
        shown["definition"] = view.definition
    return shown


def _read(path: Path) -> Any:
    """A definition file: YAML for .yaml/.yml (safe loader: data only), JSON otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot read {path}: {exc.strerror}")
        raise typer.Exit(code=2) from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            return yaml.safe_load(text)
        return json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        err.print(f"[red]error:[/red] {path} is not valid {path.suffix[1:] or 'JSON'}: {exc}")
        raise typer.Exit(code=2) from None


@workflows_app.command("list")
def list_workflows(tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """The tenant's workflows, newest first."""
    with _services(data_dir) as services:
        page = services.workflows.list(Principal.operator(tenant), None, 100)
        _print([_view(WorkflowView(w, {})) for w in page.items])


@workflows_app.command("show")
def show(workflow_id: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """One workflow and its newest definition."""
    with _services(data_dir) as services:
        _print(
            _view(services.workflows.get(Principal.operator(tenant), workflow_id), definition=True)
        )


@workflows_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="The workflow's name")],
    file: FileOpt,
    tenant: TenantOpt,
    data_dir: DataDir = None,
) -> None:
    """A draft workflow from a definition file (nothing is stored if it is refused)."""
    definition = _read(file)
    with _services(data_dir) as services:
        _print(_view(services.workflows.create(Principal.operator(tenant), name, definition)))


@workflows_app.command("update")
def update(workflow_id: str, file: FileOpt, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """A new definition (a new version once people have entered)."""
    definition = _read(file)
    with _services(data_dir) as services:
        view = services.workflows.update(
            Principal.operator(tenant), workflow_id, name=None, definition=definition
        )
        _print(_view(view))


@workflows_app.command("activate")
def activate(workflow_id: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Start or resume the workflow (the send checks apply)."""
    with _services(data_dir) as services:
        _print(_view(services.workflows.activate(Principal.operator(tenant), workflow_id)))


@workflows_app.command("pause")
def pause(workflow_id: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Nobody enters; those inside wait where they are."""
    with _services(data_dir) as services:
        _print(_view(services.workflows.pause(Principal.operator(tenant), workflow_id)))


@workflows_app.command("archive")
def archive(workflow_id: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """End the workflow for good: everyone inside leaves."""
    with _services(data_dir) as services:
        _print(_view(services.workflows.archive(Principal.operator(tenant), workflow_id)))


@workflows_app.command("stats")
def stats(workflow_id: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Figures in total and per step."""
    with _services(data_dir) as services:
        workflow, found = services.workflows.stats(Principal.operator(tenant), workflow_id)
        _print(
            {
                "id": workflow.id,
                "status": workflow.status.value,
                "totals": found.totals,
                "steps": found.steps,
            }
        )


@workflows_app.command("run")
def run(data_dir: DataDir = None) -> None:
    """One automation engine pass until nothing is due (`courriel worker` does this itself)."""
    with _services(data_dir) as services:
        _print({"handled": services.automation().drain()})
