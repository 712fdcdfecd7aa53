"""`courriel campaigns domains rules`, `… policy blocklists`, `… policy watch-blocklists`,
`courriel contacts sunset` and `… re-engage`: the bulk-sender rules of a sender domain,
the blocklist watch and a list's sunset policy, as JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from courriel.cli.audience import contacts_app
from courriel.cli.campaigns import (
    DataDir,
    TenantOpt,
    _print,
    _services,
    domains_app,
    policy_app,
)
from courriel.core.principal import Principal


@domains_app.command("rules")
def domains_rules(domain: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """The bulk-sender rules (Gmail, Yahoo, Microsoft) of a domain: pass/fail/unknown and fix."""
    with _services(data_dir) as services:
        rules = services.bulk_sender.check(Principal.operator(tenant), domain)
        _print([{**asdict(r), "status": r.status.value} for r in rules])


@policy_app.command("blocklists")
def policy_blocklists(tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """The current blocklist listings of the sending IPs and the tenant's domains."""
    with _services(data_dir) as services:
        listings = services.blocklists.listings(Principal.operator(tenant))
        _print(
            [
                {
                    "kind": r.kind.value,
                    "subject": r.subject,
                    "zone": r.zone,
                    "code": r.code,
                    "reason": r.reason,
                    "listed_at": r.listed_at,
                }
                for r in listings
            ]
        )


@policy_app.command("watch-blocklists")
def policy_watch_blocklists(data_dir: DataDir = None) -> None:
    """Look every sending IP and sender domain up in the blocklist zones now (all tenants)."""
    with _services(data_dir) as services:
        _print(asdict(services.blocklists.check_all()))


@contacts_app.command("sunset")
def contacts_sunset(
    list_id: str,
    tenant: TenantOpt,
    months: Annotated[
        int | None, typer.Option(help="Months without an open or click (1 to 120)")
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Turn the list's sunset policy off")] = False,
    data_dir: DataDir = None,
) -> None:
    """A list's sunset policy and how many it leaves out; --months N or --off changes it."""
    with _services(data_dir) as services:
        principal = Principal.operator(tenant)
        if off or months is not None:
            services.sunset.set_months(principal, list_id, None if off else months)
        _print(asdict(services.sunset.summary(principal, list_id)))


@contacts_app.command("re-engage")
def contacts_reengage(list_id: str, tenant: TenantOpt, data_dir: DataDir = None) -> None:
    """Save the segment of a list's sunset contacts, for a re-engagement campaign."""
    with _services(data_dir) as services:
        created = services.sunset.reengagement_segment(Principal.operator(tenant), list_id)
        _print(
            {
                "segment_id": created.segment.id,
                "expression": created.segment.expression,
                "count": created.count,
            }
        )


def register_deliverability() -> None:
    """Nothing to do: importing this module adds its commands to their groups.

    Called by cli/main.py so the import reads as used, and the commands are
    registered before the application runs.
    """
