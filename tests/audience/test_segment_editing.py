"""Changing a saved segment, and listing segments without counting them."""

from __future__ import annotations

import dataclasses

import pytest

from courriel.audience.models import ConsentSource
from courriel.audience.segments.parser import SegmentError
from courriel.audience.service import ConsentInput, ContactInput
from courriel.core.errors import ForbiddenError
from courriel.core.principal import Capability
from courriel.services import Services
from tests.support.tenants import TenantAccess


def _seed(services: Services, tenant: TenantAccess) -> None:
    letter = services.audience.create_list(tenant.operator, "L", "news", double_opt_in=False)
    consent = ConsentInput(source=ConsentSource.API, purpose_text="news")
    for email in ("a@gmail.test", "b@gmail.test", "c@yahoo.test"):
        services.audience.subscribe(
            tenant.operator, ContactInput(email=email), [letter.id], consent
        )


def test_a_segment_is_changed_after_its_new_expression_is_checked_and_counted(
    services: Services, tenant_a: TenantAccess
) -> None:
    _seed(services, tenant_a)
    segments = services.audience.segments
    created = segments.create(tenant_a.operator, "Gmail", 'email.domain = "gmail.test"')
    assert created.count == 2
    changed = segments.update(
        tenant_a.operator, created.segment.id, "Yahoo", 'email.domain = "yahoo.test"'
    )
    assert (changed.segment.name, changed.count) == ("Yahoo", 1)
    with pytest.raises(SegmentError) as refused:
        segments.update(tenant_a.operator, created.segment.id, "Broken", "email.domain = ")
    assert refused.value.position == len("email.domain = ")
    # A refused change stores nothing.
    kept = segments.get(tenant_a.operator, created.segment.id)
    assert (kept.segment.name, kept.segment.expression) == ("Yahoo", 'email.domain = "yahoo.test"')


def test_changing_a_segment_needs_the_right_to_write_lists(
    services: Services, tenant_a: TenantAccess
) -> None:
    created = services.audience.segments.create(tenant_a.operator, "All", 'email contains "@"')
    reader = dataclasses.replace(
        tenant_a.operator, capabilities=frozenset({Capability.CONTACTS_READ})
    )
    with pytest.raises(ForbiddenError):
        services.audience.segments.update(reader, created.segment.id, "X", 'email contains "x"')


def test_saved_segments_come_a_page_at_a_time_without_counts(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    segments = services.audience.segments
    made = {
        segments.create(tenant_a.operator, f"S{i}", 'email contains "@"').segment.id
        for i in range(3)
    }
    segments.create(tenant_b.operator, "Other tenant", 'email contains "@"')
    first = segments.saved(tenant_a.operator, None, 2)
    assert len(first.items) == 2
    assert first.next_cursor is not None
    rest = segments.saved(tenant_a.operator, first.next_cursor, 2)
    assert rest.next_cursor is None
    assert {s.id for s in [*first.items, *rest.items]} == made
