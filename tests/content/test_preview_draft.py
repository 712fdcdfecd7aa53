"""A draft (unsaved) is checked and rendered like a saved version, and stores nothing."""

from __future__ import annotations

import dataclasses

import pytest

from courriel.content.service import TemplateContent
from courriel.core.errors import ForbiddenError, InvalidInputError
from courriel.services import Services
from tests.support.tenants import TenantAccess

MJML = (
    "<mjml><mj-body><mj-section><mj-column>"
    "<mj-text>Hello {{ contact.first_name }}!</mj-text>"
    "</mj-column></mj-section></mj-body></mjml>"
)


def test_a_draft_renders_for_sample_data_in_the_sandbox(
    services: Services, tenant_a: TenantAccess
) -> None:
    preview = services.templates.preview_draft(
        tenant_a.operator,
        TemplateContent(subject="For {{ contact.first_name }}", mjml=MJML),
        sample={"first_name": "Ada"},
    )
    assert preview.subject == "For Ada"
    assert "Hello Ada!" in preview.html
    assert services.templates.list(tenant_a.operator, None, 10).items == []


def test_a_draft_with_a_syntax_error_or_bad_mjml_is_refused_as_a_save_would(
    services: Services, tenant_a: TenantAccess
) -> None:
    templates = services.templates
    with pytest.raises(InvalidInputError, match="MJML does not compile"):
        templates.preview_draft(tenant_a.operator, TemplateContent(subject="S", mjml="<mj-body>"))
    with pytest.raises(InvalidInputError, match="template error on line"):
        templates.preview_draft(
            tenant_a.operator, TemplateContent(subject="S", html="<p>{% if x %}open</p>")
        )


def test_a_sandbox_escape_is_refused_in_a_draft_too(
    services: Services, tenant_a: TenantAccess
) -> None:
    with pytest.raises(InvalidInputError):
        services.templates.preview_draft(
            tenant_a.operator,
            TemplateContent(subject="S", html="<p>{{ ''.__class__.__mro__ }}</p>"),
        )


def test_a_draft_preview_needs_the_right_to_read_templates(
    services: Services, tenant_a: TenantAccess
) -> None:
    nobody = dataclasses.replace(tenant_a.operator, capabilities=frozenset())
    with pytest.raises(ForbiddenError):
        services.templates.preview_draft(nobody, TemplateContent(subject="S", mjml=MJML))


def test_a_syntax_error_in_mjml_names_the_line_the_author_wrote(
    services: Services, tenant_a: TenantAccess
) -> None:
    source = MJML.replace("><", ">\n<").replace("Hello {{", "Hello {% if x %}{{")
    line = next(n for n, text in enumerate(source.splitlines(), 1) if "{% if" in text)
    assert line == 5
    with pytest.raises(InvalidInputError, match=r"template error on line \d+") as refused:
        services.templates.create(tenant_a.operator, "T", "S", mjml=source)
    # The line of the unclosed block in the MJML, not in the HTML compiled from it.
    assert "line 5:" in refused.value.reason
