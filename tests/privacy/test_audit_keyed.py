"""The audit chain is keyed by the installation secret and anchored in the
control database: whoever can rewrite a tenant database cannot forge it."""

from __future__ import annotations

import hashlib

from sqlalchemy import select, text

from courriel.core.audit import GENESIS, entry_hash
from courriel.core.db import transaction
from courriel.core.models import AuditAnchor, AuditEntry
from courriel.core.principal import Principal
from courriel.services import Services
from tests.support.tenants import TenantAccess


def _rewrite(services: Services, who: TenantAccess, key: bytes | None) -> None:
    """Change every actor, then recompute the whole chain and its head, as a forger
    with write access to the tenant database (and `key`, if any) would."""
    with transaction(services.storage.tenant(who.tenant.id)) as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        prev = GENESIS
        for entry in entries:
            entry.actor = "nobody"
            entry.prev_hash = prev
            entry.hash = entry_hash(entry, key)
            prev = entry.hash
        session.execute(text("UPDATE audit_chain_head SET hash = :h"), {"h": prev})


def _record(services: Services, who: TenantAccess, n: int) -> None:
    for i in range(n):
        services.audit.record(who.tenant.id, "operator", "test.step", None, {"n": i})


def test_a_rewritten_and_rehashed_chain_fails_verify(
    services: Services, tenant_a: TenantAccess
) -> None:
    _record(services, tenant_a, 4)
    assert services.audit.verify(tenant_a.operator).ok
    _rewrite(services, tenant_a, key=None)
    found = services.audit.verify(tenant_a.operator)
    assert (found.ok, found.first_broken_seq) == (False, 1)
    assert found.problem == "entry 1 was altered"


def test_a_chain_rehashed_with_a_guessed_key_fails_too(
    services: Services, tenant_a: TenantAccess
) -> None:
    _record(services, tenant_a, 2)
    _rewrite(services, tenant_a, key=hashlib.sha256(b"guess").digest())
    assert not services.audit.verify(tenant_a.operator).ok


def test_entries_dropped_after_an_anchor_are_detected(
    services: Services, tenant_a: TenantAccess
) -> None:
    _record(services, tenant_a, 5)
    anchored = services.audit.anchor(tenant_a.tenant.id)
    assert anchored is not None
    assert anchored.seq >= 5
    # Drop the tail and set the head back, consistently: only the anchor knows.
    with transaction(services.storage.tenant(tenant_a.tenant.id)) as session:
        last = session.get(AuditEntry, 3)
        assert last is not None
        session.execute(text("DELETE FROM audit_entries WHERE seq > 3"))
        session.execute(text("UPDATE audit_chain_head SET seq = 3, hash = :h"), {"h": last.hash})
    found = services.audit.verify(tenant_a.operator)
    assert (found.ok, found.first_broken_seq) == (False, 4)
    assert "anchored" in (found.problem or "")


def test_a_forged_anchor_is_detected(services: Services, tenant_a: TenantAccess) -> None:
    _record(services, tenant_a, 2)
    services.audit.anchor(tenant_a.tenant.id)
    with transaction(services.storage.control) as session:
        session.execute(
            text("UPDATE audit_anchors SET keyed_from = 99 WHERE tenant_id = :t"),
            {"t": tenant_a.tenant.id},
        )
    found = services.audit.verify(tenant_a.operator)
    assert (found.ok, found.problem) == (False, "the anchor was altered")


def test_a_chain_written_before_keying_keeps_verifying_and_marks_the_switch(
    services: Services,
) -> None:
    # The installation before this change: no anchor, plain SHA-256 entries.
    tenant = services.tenants.create("Old")
    tenant_a = TenantAccess(tenant=tenant, key="", operator=Principal.operator(tenant.id))
    with transaction(services.storage.control) as session:
        session.execute(text("DELETE FROM audit_anchors"))
    with transaction(services.storage.tenant(tenant_a.tenant.id)) as session:
        session.info["audit_key"] = None
        from courriel.core.audit import record_entry  # noqa: PLC0415 (the old writer)

        for i in range(3):
            record_entry(session, services.clock.now(), "operator", "old.step", None, {"n": i})
    before = services.audit.verify(tenant_a.operator)
    assert before.ok, before
    _record(services, tenant_a, 2)  # keyed from here on
    anchor = services.audit.anchor(tenant_a.tenant.id)
    assert anchor is not None
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        old_count = session.scalar(
            select(AuditEntry.seq)
            .where(AuditEntry.action == "old.step")
            .order_by(AuditEntry.seq.desc())
        )
    assert anchor.keyed_from == (old_count or 0) + 1
    assert services.audit.verify(tenant_a.operator).ok
    # From the switch point on, a plain SHA-256 rewrite no longer passes.
    _rewrite(services, tenant_a, key=None)
    found = services.audit.verify(tenant_a.operator)
    assert not found.ok
    assert found.first_broken_seq == anchor.keyed_from


def test_anchors_belong_to_their_tenant(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    _record(services, tenant_a, 3)
    services.audit.anchor(tenant_a.tenant.id)
    services.audit.anchor(tenant_b.tenant.id)
    _rewrite(services, tenant_a, key=None)
    assert not services.audit.verify(tenant_a.operator).ok
    assert services.audit.verify(tenant_b.operator).ok
    with services.storage.control() as session:
        tenants = set(session.scalars(select(AuditAnchor.tenant_id)))
    assert {tenant_a.tenant.id, tenant_b.tenant.id} <= tenants
