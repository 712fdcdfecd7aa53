"""A template's versions, newest first, for the page that lists them."""

from __future__ import annotations

import dataclasses

import pytest

from courriel.content.service import TemplateContent
from courriel.core.errors import ForbiddenError, NotFoundError
from courriel.services import Services
from tests.support.tenants import TenantAccess


def test_versions_come_newest_first_and_only_the_templates_own(
    services: Services, tenant_a: TenantAccess
) -> None:
    templates = services.templates
    one, _v = templates.create(tenant_a.operator, "One", "First", "<p>1</p>")
    other, _v = templates.create(tenant_a.operator, "Other", "Else", "<p>x</p>")
    for n in (2, 3):
        templates.add_version(
            tenant_a.operator, one.id, TemplateContent(subject=f"S{n}", html=f"<p>{n}</p>")
        )
    found = templates.versions(tenant_a.operator, one.id)
    assert [(v.version, v.subject) for v in found] == [(3, "S3"), (2, "S2"), (1, "First")]
    assert [v.version for v in templates.versions(tenant_a.operator, one.id, limit=2)] == [3, 2]
    assert [v.subject for v in templates.versions(tenant_a.operator, other.id)] == ["Else"]


def test_versions_need_the_right_to_read_templates_and_an_existing_template(
    services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    template, _v = services.templates.create(tenant_a.operator, "T", "S", "<p>1</p>")
    nobody = dataclasses.replace(tenant_a.operator, capabilities=frozenset())
    with pytest.raises(ForbiddenError):
        services.templates.versions(nobody, template.id)
    with pytest.raises(NotFoundError):
        services.templates.versions(tenant_b.operator, template.id)
