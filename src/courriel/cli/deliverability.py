"""`courriel campaigns domains rules`, `… policy blocklists` and `… policy watch-blocklists`:
the bulk-sender rules of a sender domain and the blocklist watch, as JSON."""

from __future__ import annotations

from dataclasses import asdict

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


def register_deliverability() -> None:
    """Nothing to do: importing this module adds its commands to their groups.

    Called by cli/main.py so the import reads as used, and the commands are
    registered before the application runs.
    """
