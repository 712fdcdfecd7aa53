"""The deliverability commands: a domain's bulk-sender rules, the blocklist watch and a
list's sunset policy, as JSON; a bad value is a clear error that changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from courriel.cli.main import app
from courriel.config import Settings
from courriel.core.principal import Principal
from courriel.services import Services

runner = CliRunner()
ENV = {"COURRIEL_RESOLVER": "sandbox", "COURRIEL_SENDING_IPS": '["192.0.2.10"]'}


def test_rules_blocklists_and_sunset_from_the_command_line(tmp_path: Path) -> None:
    services = Services.build(Settings(data_dir=tmp_path, resolver="sandbox"))
    try:
        services.tenants.migrate_shared()
        tenant = services.tenants.create("Acme").id
        operator = Principal.operator(tenant)
        services.sender_domains.add(operator, "shop.test")
        list_id = services.audience.create_list(operator, "News", double_opt_in=False).id
    finally:
        services.close()
    where = ["--tenant", tenant, "--data-dir", str(tmp_path)]

    rules = runner.invoke(app, ["campaigns", "domains", "rules", "shop.test", *where], env=ENV)
    assert rules.exit_code == 0, rules.output
    by_name = {r["name"]: r for r in json.loads(rules.output)}
    assert by_name["spf"]["status"] == "fail"
    assert "include:_spf.courriel.test" in by_name["spf"]["fix"]
    assert by_name["dmarc"]["status"] == "fail"

    listings = runner.invoke(app, ["campaigns", "policy", "blocklists", *where], env=ENV)
    assert json.loads(listings.output) == []

    sunset = runner.invoke(app, ["contacts", "sunset", list_id, "--months", "6", *where], env=ENV)
    assert sunset.exit_code == 0, sunset.output
    assert json.loads(sunset.output)["months"] == 6
    bad = runner.invoke(app, ["contacts", "sunset", list_id, "--months", "500", *where], env=ENV)
    assert bad.exit_code == 2
    assert "between 1 and 120" in bad.output
    again = runner.invoke(app, ["contacts", "sunset", list_id, *where], env=ENV)
    assert json.loads(again.output)["months"] == 6
    segment = runner.invoke(app, ["contacts", "re-engage", list_id, *where], env=ENV)
    assert json.loads(segment.output)["expression"] == f'sunset "{list_id}"'
