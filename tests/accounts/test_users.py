"""The team of a tenant: users, the owner rule, tenant isolation, the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from courriel.accounts.models import UserStatus
from courriel.accounts.passwords import verify_password
from courriel.cli.main import app
from courriel.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from courriel.core.principal import Capability, Principal
from courriel.services import Services
from tests.support.tenants import TenantAccess


def test_operator_creates_a_user_with_a_one_time_password(
    services: Services, tenant_a: TenantAccess
) -> None:
    created = services.users.create(tenant_a.operator, "Ana@Example.TEST", "marketer", "Ana")
    user = created.user
    assert user.id.startswith("usr_")
    assert user.status is UserStatus.ACTIVE
    assert user.role == "marketer"
    assert user.must_change_password
    assert created.one_time_password
    assert user.password_hash is not None
    assert verify_password(user.password_hash, created.one_time_password)
    assert created.one_time_password not in user.password_hash
    listed = services.users.list(tenant_a.operator)
    assert [u.id for u in listed] == [user.id]
    trail = services.audit.entries(tenant_a.operator).items
    assert trail[-1].action == "user.created"
    assert created.one_time_password not in trail[-1].detail


def test_addresses_are_unique_per_tenant_case_folded(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    services.users.create(tenant_a.operator, "ana@example.test", "admin")
    with pytest.raises(ConflictError, match="already a user"):
        services.users.create(tenant_a.operator, "ANA@example.test", "analyst")
    # The same person may belong to another tenant's team.
    services.users.create(tenant_b.operator, "ana@example.test", "admin")


def test_bad_inputs_name_the_field(services: Services, tenant_a: TenantAccess) -> None:
    with pytest.raises(InvalidInputError, match=r"^role: unknown role 'boss'"):
        services.users.create(tenant_a.operator, "ana@example.test", "boss")
    with pytest.raises(InvalidInputError, match=r"^email"):
        services.users.create(tenant_a.operator, "not an address", "admin")
    assert services.users.list(tenant_a.operator) == []


def test_the_owner_cannot_be_disabled_demoted_or_doubled(
    services: Services, tenant_a: TenantAccess
) -> None:
    owner = services.users.create(tenant_a.operator, "boss@example.test", "owner").user
    other = services.users.create(tenant_a.operator, "ana@example.test", "admin").user
    with pytest.raises(ConflictError, match="owner cannot be disabled"):
        services.users.disable(tenant_a.operator, owner.id)
    with pytest.raises(ConflictError, match="owner cannot be demoted"):
        services.users.set_role(tenant_a.operator, owner.id, "admin")
    with pytest.raises(ConflictError, match="already has an owner"):
        services.users.create(tenant_a.operator, "second@example.test", "owner")
    with pytest.raises(ConflictError, match="only by transfer"):
        services.users.set_role(tenant_a.operator, other.id, "owner")
    services.users.transfer_ownership(tenant_a.operator, other.id)
    assert services.users.get(tenant_a.operator, other.id).role == "owner"
    assert services.users.get(tenant_a.operator, owner.id).role == "admin"
    # The former owner is now an ordinary admin.
    services.users.disable(tenant_a.operator, owner.id)


def test_disable_and_enable_follow_the_transition_table(
    services: Services, tenant_a: TenantAccess
) -> None:
    user = services.users.create(tenant_a.operator, "ana@example.test", "analyst").user
    assert services.users.disable(tenant_a.operator, user.id).status is UserStatus.DISABLED
    assert services.users.enable(tenant_a.operator, user.id).status is UserStatus.ACTIVE
    actions = [e.action for e in services.audit.entries(tenant_a.operator).items]
    assert actions[-2:] == ["user.disabled", "user.active"]


def test_another_tenants_users_are_out_of_reach(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    theirs = services.users.create(tenant_b.operator, "ana@example.test", "admin").user
    for call in (
        services.users.get,
        services.users.disable,
        services.users.enable,
        services.users.reset_second_factor,
        services.users.transfer_ownership,
    ):
        with pytest.raises(NotFoundError):
            call(tenant_a.operator, theirs.id)
    with pytest.raises(NotFoundError):
        services.users.set_role(tenant_a.operator, theirs.id, "analyst")
    assert services.users.list(tenant_a.operator) == []
    assert services.users.get(tenant_b.operator, theirs.id).status is UserStatus.ACTIVE


def test_managing_users_needs_the_capability(services: Services, tenant_a: TenantAccess) -> None:
    reader = Principal(tenant_a.tenant.id, frozenset({Capability.CONTACTS_READ}), "key:x")
    with pytest.raises(ForbiddenError, match="users:manage"):
        services.users.create(reader, "ana@example.test", "admin")
    with pytest.raises(ForbiddenError):
        services.users.list(reader)


def test_cli_adds_lists_disables_and_enables(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    made = runner.invoke(app, ["tenant", "create", "Acme", *data])
    assert made.exit_code == 0, made.output
    tenant = re.search(r"tenant (ten_\w+)", made.output)
    assert tenant is not None
    t = ["--tenant", tenant.group(1)]
    added = runner.invoke(app, ["users", "add", "boss@example.test", "--role", "owner", *t, *data])
    assert added.exit_code == 0, added.output
    assert "one-time password" in added.output
    listed = runner.invoke(app, ["users", "list", *t, *data])
    assert "boss@example.test" in listed.output
    assert "owner" in listed.output
    refused = runner.invoke(app, ["users", "disable", "boss@example.test", *t, *data])
    assert refused.exit_code == 2
    assert "owner cannot be disabled" in refused.output
    runner.invoke(app, ["users", "add", "ana@example.test", *t, *data])
    off = runner.invoke(app, ["users", "disable", "ANA@example.test", *t, *data])
    assert off.exit_code == 0, off.output
    assert "disabled" in runner.invoke(app, ["users", "list", *t, *data]).output
    on = runner.invoke(app, ["users", "enable", "ana@example.test", *t, *data])
    assert on.exit_code == 0, on.output
    reset = runner.invoke(app, ["users", "reset-2fa", "ana@example.test", *t, *data])
    assert reset.exit_code == 0, reset.output
    missing = runner.invoke(app, ["users", "disable", "nobody@example.test", *t, *data])
    assert missing.exit_code == 2
    assert "no user" in missing.output
