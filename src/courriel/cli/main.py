"""`courriel`: the command line. Thin: every command calls the services."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from courriel.cli.audience import contacts_app, segments_app
from courriel.cli.backup import backup_app
from courriel.cli.campaigns import campaigns_app
from courriel.cli.deliverability import register_deliverability
from courriel.cli.demo import DemoSeed, seed_demo, send_and_wait
from courriel.cli.governance import audit_app
from courriel.cli.hygiene import hygiene_app
from courriel.cli.pools import pools_app, warmup_app
from courriel.cli.privacy import privacy_app
from courriel.cli.retention import register_app, retention_app
from courriel.cli.roles import roles_app
from courriel.cli.users import users_app
from courriel.cli.workflow_templates import workflow_templates_app
from courriel.cli.workflows import workflows_app
from courriel.config import Settings, masked, record_public_url, settings_markdown
from courriel.core.errors import CourrielError
from courriel.core.principal import Principal
from courriel.engine.runtime import (
    configure_logging,
    install_signals,
    run_engine,
    run_http,
    run_loop,
    run_relay,
)
from courriel.policy.spamassassin import SpamdError
from courriel.sandbox.server import Sandbox, run_sandbox
from courriel.sandbox.store import MailStore, store_path
from courriel.sandbox.zone import Zone
from courriel.services import Services

app = typer.Typer(help="Courriel: a consent-first Email Service Provider.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants (customer accounts).", no_args_is_help=True)
sandbox_app = typer.Typer(help="The sandbox internet: simulated inbox providers.")
app.add_typer(tenant_app, name="tenant")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(contacts_app, name="contacts")
app.add_typer(segments_app, name="segments")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(workflows_app, name="workflows")
app.add_typer(workflow_templates_app, name="workflow-templates")
app.add_typer(audit_app, name="audit")
app.add_typer(retention_app, name="retention")
app.add_typer(register_app, name="register")
app.add_typer(privacy_app, name="privacy")
app.add_typer(backup_app, name="backup")
app.add_typer(roles_app, name="roles")
app.add_typer(users_app, name="users")
app.add_typer(hygiene_app, name="hygiene")
register_deliverability()
app.add_typer(pools_app, name="pools")
app.add_typer(warmup_app, name="warmup")

console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: COURRIEL_DATA_DIR or ./data)"),
]


def _settings(data_dir: Path | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


def _services(settings: Settings, migrate: bool = True) -> Services:
    services = Services.build(settings)
    if migrate:
        services.tenants.migrate_shared()
    return services


def _fail(exc: CourrielError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc.detail}")
    return typer.Exit(code=2)


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Upgrade the control, spool and every tenant database (idempotent)."""
    services = _services(_settings(data_dir), migrate=False)
    try:
        report = services.tenants.migrate_all()
        # Data the schema migrations could not fix without the installation key.
        refolded = sum(
            services.audience.suppressions.refold_hashes(t.id) for t in services.tenants.list()
        )
    finally:
        services.close()
    console.print(f"migrated {len(report.revisions)} databases to the newest schema")
    if refolded:
        console.print(f"rehashed {refolded} suppressions of mixed-case addresses")


@tenant_app.command("create")
def tenant_create(name: str, data_dir: DataDir = None) -> None:
    """Provision a tenant (its own database) and print its first API key, once."""
    services = _services(_settings(data_dir))
    try:
        tenant = services.tenants.create(name)
        key = services.api_keys.create(Principal.operator(tenant.id), "first key")
    except CourrielError as exc:
        raise _fail(exc) from None
    finally:
        services.close()
    console.print(f"tenant [bold]{tenant.id}[/bold] created")
    console.print(f"API key (shown once): [bold]{key.secret}[/bold]")
    # Mailjet clients and SMTP AUTH take the pair: the id as user, the key as password.
    console.print(f"API key id (user name for Basic auth and SMTP): [bold]{key.id}[/bold]")


@tenant_app.command("list")
def tenant_list(data_dir: DataDir = None) -> None:
    """List tenants."""
    services = _services(_settings(data_dir))
    try:
        tenants = services.tenants.list()
    finally:
        services.close()
    table = Table("id", "name", "status", "database")
    for t in tenants:
        table.add_row(t.id, t.name, t.status.value, "postgresql" if t.database_url else "sqlite")
    console.print(table)


def _tenant_id(services: Services, name_or_id: str) -> str:
    matches = [t.id for t in services.tenants.list() if name_or_id in (t.id, t.name)]
    if len(matches) != 1:
        err.print(f"[red]error:[/red] {len(matches)} tenants are named {name_or_id!r}; give the id")
        raise typer.Exit(code=2)
    return matches[0]


@tenant_app.command("delete")
def tenant_delete(
    name: str,
    data_dir: DataDir = None,
    cancel: Annotated[bool, typer.Option("--cancel", help="Undo during the grace period")] = False,
) -> None:
    """Suspend a tenant now and delete its data and backups after the grace period."""
    services = _services(_settings(data_dir))
    try:
        tenant_id = _tenant_id(services, name)
        if cancel:
            services.offboarding.cancel(tenant_id)
            console.print(f"tenant {tenant_id} is active again")
            return
        pending = services.offboarding.request(tenant_id, "operator")
    except CourrielError as exc:
        raise _fail(exc) from None
    finally:
        services.close()
    console.print(
        f"tenant {tenant_id} suspended; its data and backups will be deleted on "
        f"{pending.delete_after:%Y-%m-%d %H:%M} UTC (run by the engine)"
    )


@tenant_app.command("deletion")
def tenant_deletion(tenant_id: str, data_dir: DataDir = None) -> None:
    """Show a requested deletion, and its certificate once carried out (JSON)."""
    services = _services(_settings(data_dir))
    try:
        pending = services.offboarding.get(tenant_id)
    except CourrielError as exc:
        raise _fail(exc) from None
    finally:
        services.close()
    typer.echo(
        json.dumps(
            {
                "tenant_id": pending.tenant_id,
                "requested_at": pending.requested_at.isoformat(),
                "delete_after": pending.delete_after.isoformat(),
                "deleted_at": pending.deleted_at.isoformat() if pending.deleted_at else None,
                "certificate": pending.certificate,
            },
            indent=2,
        )
    )


@app.command("config")
def show_config(
    data_dir: DataDir = None,
    markdown: Annotated[bool, typer.Option(help="Print the reference as Markdown")] = False,
) -> None:
    """Print the effective settings (secrets masked)."""
    if markdown:
        typer.echo(settings_markdown(), nl=False)
        return
    typer.echo(json.dumps(masked(_settings(data_dir)), indent=2))


@sandbox_app.callback(invoke_without_command=True)
def sandbox(
    ctx: typer.Context,
    data_dir: DataDir = None,
    base_port: Annotated[int | None, typer.Option(help="First port (0: free ports)")] = None,
) -> None:
    """Run the simulated providers' SMTP servers until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(data_dir, sandbox_base_port=base_port)

    def ready(zone: Zone) -> None:
        for domain, hosts in sorted(zone.domains.items()):
            host = hosts[0][0]
            ip, port = zone.hosts[host]
            console.print(f"{domain:22} -> {host} at {ip}:{port}")
        console.print("sandbox internet running; Ctrl-C stops it")

    run_sandbox(
        Path(settings.data_dir), settings.sandbox_host, settings.sandbox_base_port, on_ready=ready
    )


@sandbox_app.command("inbox")
def sandbox_inbox(
    address: str,
    data_dir: DataDir = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """List what the sandbox mailbox of ADDRESS received, newest first."""
    path = store_path(Path(_settings(data_dir).data_dir))
    if not path.exists():
        err.print("the sandbox has received nothing yet")
        raise typer.Exit(code=1)
    with MailStore(path) as store:
        messages = store.inbox(address, limit=limit)
    table = Table("id", "received", "from", "client (EHLO)", "subject")
    for m in messages:
        table.add_row(
            str(m.id),
            m.received_at.isoformat(timespec="seconds"),
            m.mail_from,
            f"{m.peer} ({m.helo})" if m.peer else "",
            m.subject,
        )
    console.print(table)


@app.command()
def worker(data_dir: DataDir = None) -> None:
    """Run the scheduler and the delivery engine alone (no HTTP)."""
    settings = _settings(data_dir)
    configure_logging(settings.log_level, settings.log_format)
    services = _services(settings)

    async def main() -> None:
        stop = asyncio.Event()
        install_signals(stop)
        await run_engine(services, stop)

    try:
        asyncio.run(main())
    finally:
        services.close()


@app.command()
def relay(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (COURRIEL_RELAY_HOST)")] = None,
    port: Annotated[
        int | None, typer.Option(help="STARTTLS submission port, 0 = off (COURRIEL_RELAY_PORT)")
    ] = None,
    tls_port: Annotated[
        int | None,
        typer.Option(help="Implicit-TLS submission port, 0 = off (COURRIEL_RELAY_TLS_PORT)"),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Processes sharing the ports (COURRIEL_RELAY_PROCESSES)"),
    ] = None,
) -> None:
    """Run the SMTP relay alone: customers submit mail with their API key id and secret."""
    settings = _settings(
        data_dir,
        relay_host=host,
        relay_port=port,
        relay_tls_port=tls_port,
        relay_processes=processes,
    )
    configure_logging(settings.log_level)
    services = _services(settings)

    async def main() -> None:
        stop = asyncio.Event()
        install_signals(stop)
        typer.echo(
            f"SMTP relay on {settings.relay_host}: STARTTLS port {settings.relay_port or 'off'}, "
            f"TLS port {settings.relay_tls_port or 'off'}"
        )
        await run_relay(services, stop)

    try:
        run_loop(main())
    finally:
        services.close()


@app.command()
def serve(  # noqa: PLR0917 (typer: one parameter per command-line option)
    data_dir: DataDir = None,
    sandbox: Annotated[bool, typer.Option(help="Run the sandbox internet and use it")] = False,
    seed_demo_: Annotated[
        bool, typer.Option("--seed-demo", help="Seed a demo tenant on a first start")
    ] = False,
    host: Annotated[str | None, typer.Option(help="HTTP address")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="HTTP processes sharing the port (COURRIEL_HTTP_WORKERS)"),
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate chain: serve HTTPS (with --tls-key)")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert")] = None,
) -> None:
    """Run everything in one process: HTTP API, scheduler, delivery engine (and sandbox)."""
    settings = _settings(
        data_dir,
        http_host=host,
        http_port=port,
        http_workers=workers,
        tls_cert_file=tls_cert,
        tls_key_file=tls_key,
        resolver="sandbox" if sandbox else None,
    )
    configure_logging(settings.log_level, settings.log_format)
    unreachable = record_public_url(settings)
    if unreachable:
        logging.getLogger("courriel").warning(unreachable)
    services = _services(settings)

    async def main() -> None:
        stop = asyncio.Event()
        install_signals(stop)
        box = Sandbox(Path(settings.data_dir), settings.sandbox_host, settings.sandbox_base_port)
        if sandbox:
            await box.start()
            if settings.inbound_smtp_port:
                # Late bounces and complaints come back to our return-path server.
                box.recipients.return_to = (settings.inbound_smtp_host, settings.inbound_smtp_port)
        try:
            if seed_demo_ and not services.tenants.list():
                seed = await asyncio.to_thread(seed_demo, services)
                # The demo campaign is sent at once: the engine below delivers it.
                services.campaigns.send(Principal.operator(seed.tenant_id), seed.campaign_id)
                _announce_demo(settings, seed)
            if settings.spamd_start:
                # SpamAssassin's spamd for the content check's score, on loopback;
                # without it the check uses Courriel's own heuristics only.
                try:
                    await asyncio.to_thread(services.spamassassin.start)
                except SpamdError as exc:
                    logging.getLogger("courriel").warning("spamd not started: %s", exc)
            base = settings.public_url
            typer.echo(f"Courriel at {base}/app (API at {base}/v1, docs: {base}/docs)")
            await asyncio.gather(run_http(services, stop), run_engine(services, stop))
        finally:
            await asyncio.to_thread(services.spamassassin.stop)
            if sandbox:
                await box.stop()

    try:
        run_loop(main())
    finally:
        services.close()


def _announce_demo(settings: Settings, seed: DemoSeed) -> None:
    # Plain lines, never wrapped: a newcomer copies the key and the commands.
    key_file = Path(settings.data_dir) / "demo-api-key.txt"
    key_file.write_text(seed.api_key + "\n")
    key_file.chmod(0o600)
    # The sign-in beside the key, as private: shown once here, kept there.
    sign_in_file = Path(settings.data_dir) / "demo-sign-in.txt"
    sign_in_file.write_text(f"{seed.admin_email}\n{seed.admin_password}\n")
    sign_in_file.chmod(0o600)
    base = settings.public_url
    auth = f"-H 'Authorization: Bearer {seed.api_key}'"
    lines = [
        "Demo tenant seeded; its campaign is being sent through the sandbox internet.",
        f"  application: {base}/app",
        f"  sign in as:  {seed.admin_email}",
        f"  password:    {seed.admin_password}  (shown once, also in {sign_in_file})",
        f"  API key (shown once, also in {key_file}): {seed.api_key}",
        f"  API key id (with the key: Basic auth for /v3.1/send, SMTP AUTH): {seed.api_key_id}",
        f"  statistics:  curl {auth} {base}/v1/campaigns/{seed.campaign_id}/stats",
        f"  a mailbox:   curl {auth} '{base}/v1/sandbox/messages?to={seed.recipients[0]}'",
        (
            f"  or:          .venv/bin/courriel sandbox inbox {seed.recipients[0]}"
            f" --data-dir {settings.data_dir}"
        ),
    ]
    typer.echo("\n".join(lines))


@app.command()
def demo(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for delivery")] = 120.0,
) -> None:
    """Run the whole scenario on an empty data directory and print the campaign statistics."""
    settings = _settings(data_dir, resolver="sandbox", sandbox_base_port=0)
    services = _services(settings)
    say = err if as_json else console

    async def main() -> dict[str, Any]:
        async with Sandbox(Path(settings.data_dir), settings.sandbox_host, 0):
            say.print("sandbox internet started")
            seed = await asyncio.to_thread(seed_demo, services)
            say.print(f"tenant {seed.tenant_id}: {len(seed.recipients)} consenting contacts")
            with say.status("sending the campaign through the sandbox internet…"):
                stats = await send_and_wait(services, seed, dt.timedelta(seconds=timeout))
            return {
                "tenant_id": seed.tenant_id,
                "campaign_id": stats.campaign_id,
                "status": stats.status,
                "recipients": stats.recipients,
                "delivery_rate": stats.delivery_rate,
                **stats.counts,
            }

    try:
        if services.tenants.list():
            err.print("[red]error:[/red] the demo needs an empty data directory")
            raise typer.Exit(code=2)
        result = asyncio.run(main())
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
        return
    table = Table("figure", "value", title="Demo campaign statistics")
    for name, value in result.items():
        table.add_row(name, str(value))
    console.print(table)


def main() -> None:
    """Entry point of the `courriel` script."""
    app()
