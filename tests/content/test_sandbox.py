"""Customer templates are untrusted code: every attack is refused or stopped, with a reason."""

from __future__ import annotations

import time

import pytest

from courriel.content.formatting import locale_for
from courriel.content.jinja_env import RenderLimits
from courriel.content.render import CompiledTemplate, Namespace, RenderError
from courriel.core.errors import InvalidInputError

SECRET = "s3cr3t-installation-key"


def _render(html: str, limits: RenderLimits | None = None, **context: object) -> str:
    template = CompiledTemplate("Subject", html, None, limits=limits or RenderLimits())
    values: dict[str, object] = {"contact": Namespace("contact", {"first_name": "Ada"})}
    values.update(context)
    return template.render(values).html


def _refused(html: str, *, limits: RenderLimits | None = None) -> str:
    """The reason a template was refused (at compile or at render time)."""
    start = time.monotonic()
    try:
        _render(html, limits, settings={"secret": SECRET})
    except (RenderError, InvalidInputError) as exc:
        reason = str(exc)
    else:
        raise AssertionError(f"template was not refused: {html}")
    assert time.monotonic() - start < 5
    assert SECRET not in reason
    assert "<function" not in reason
    assert "__builtins__" not in reason
    return reason


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        ("{{ ''.__class__.__mro__ }}", "'__class__' of a str is not allowed"),
        ("{{ cycler.__init__.__globals__ }}", "'__init__'"),
        ("{{ joiner.__init__.__globals__.os }}", "'__init__'"),
        ("{{ namespace.__init__.__globals__ }}", "'__init__'"),
        ("{{ 'x'|attr('format') }}", "No filter named 'attr'"),
        ("{{ contact|attr('__class__') }}", "No filter named 'attr'"),
        ("{{ '{0.__class__}'.format(1) }}", "str.format is not available"),
        ("{{ '{:>999999999}'.format(1) }}", "str.format is not available"),
        ("{{ 'a'.format_map({}) }}", "str.format is not available"),
        ("{{ '%s'|format(1) }}", "No filter named 'format'"),
        ("{{ '%999999999s' % 1 }}", "%-formatting of strings is not available"),
        ("{{ range(10**9) }}", "above the limit"),
        ("{% for i in range(10**9) %}{% endfor %}", "above the limit"),
        ("{{ 'x' * 10**9 }}", "longer than 1000000 characters"),
        ("{{ [0] * 10**9 }}", "longer than 1000000 characters"),
        ("{{ 'x'.ljust(10**9) }}", "longer than 1000000 characters"),
        ("{{ 'x'|center(10**9) }}", "No filter named 'center'"),
        ("{{ ('x' * 999999).replace('x', 'yy') }}", "longer than 1000000 characters"),
        ("{{ ('x' * 999999)|replace('x', 'yy') }}", "longer than 1000000 characters"),
        ("{{ 2 ** (10 ** 10) }}", "power above 64"),
        # Deep recursion meets the depth guard, or on a loaded machine (every
        # call checks the deadline) the time limit first: refused either way.
        (
            "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
            "recursed too deeply | took longer than 0.5 s",
        ),
        (
            "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
            "recursed too deeply | took longer than 0.5 s",
        ),
        (
            "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
            "loop iterations",
        ),
        (
            (
                "{% set ns = namespace(s='xx') %}{% for i in range(64) %}"
                "{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
            ),
            "longer than 1000000 characters",
        ),
        (
            (
                "{% set ns = namespace(s='xx') %}{% for i in range(64) %}"
                "{% set ns.s = ns.s + ns.s %}{% endfor %}"
            ),
            "longer than 1000000 characters",
        ),
        ("{{ (('x' * 100000,) * 100)|join }}", "longer than 1000000 characters"),
        ("{% include 'secret.txt' %}", "no loader"),
        ("{% import '/etc/passwd' as p %}", "no loader"),
        ("{% extends '/etc/passwd' %}", "no loader"),
        ("{{ lipsum(10**6) }}", "no attribute 'lipsum'"),
        ("{{ settings.secret.__class__ }}", "not allowed"),
        ("{{ contact.__class__.__base__.__subclasses__() }}", "'__class__'"),
        ("{{ contact.clear() }}", "unsafe"),
    ],
)
def test_attacks_are_refused_with_a_clear_reason(attack: str, reason: str) -> None:
    refused = _refused(attack)
    assert any(one in refused for one in reason.split(" | ")), refused


def test_a_slow_template_is_stopped_by_the_time_limit() -> None:
    limits = RenderLimits(max_seconds=0.2, max_iterations=10**9)
    reason = _refused(
        "{% for a in range(20000) %}{% for b in range(20000) %}{{ a }}{% endfor %}{% endfor %}",
        limits=RenderLimits(max_seconds=0.2, max_iterations=10**9, max_output=10**9),
    )
    assert "took longer than 0.2 s" in reason
    assert limits.max_seconds == 0.2


def test_output_size_is_limited() -> None:
    reason = _refused(
        "{% for i in range(5000) %}{{ 'x' * 1000 }}{% endfor %}",
        limits=RenderLimits(max_output=100_000),
    )
    assert "longer than 100000 characters" in reason


def test_syntax_errors_name_the_part_and_line() -> None:
    with pytest.raises(InvalidInputError) as caught:
        CompiledTemplate("Hi {{ contact.first_name", "<p>x</p>", None)
    assert caught.value.field == "subject"
    with pytest.raises(InvalidInputError) as caught:
        CompiledTemplate("Hi", "<p>\n{% if %}</p>", None)
    assert caught.value.field == "html"
    assert "line 2" in str(caught.value)


def test_contact_data_is_escaped_in_the_html_part_only() -> None:
    template = CompiledTemplate(
        "Hi {{ contact.first_name }}", "<p>{{ contact.first_name }}</p>", None
    )
    evil = "<script>alert(1)</script>"
    content = template.render({"contact": Namespace("contact", {"first_name": evil})})
    assert "<script>" not in content.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content.html
    assert content.subject == f"Hi {evil}"
    assert evil in content.text


def test_conditions_loops_and_default_work() -> None:
    html = (
        "{% if contact.vip %}VIP {% endif %}"
        "{% for item in contact.orders %}[{{ loop.index }}:{{ item.name }}]{% endfor %}"
        "{{ contact.city|default('somewhere') }}"
    )
    contact = Namespace("contact", {"vip": True, "orders": [{"name": "a"}, {"name": "b"}]})
    assert _render(html, contact=contact) == "VIP [1:a][2:b]somewhere"


def test_undefined_variables_render_empty_and_are_listed() -> None:
    template = CompiledTemplate("{{ who }}", "{{ contact.first_name }} {{ contact.city }}", None)
    content = template.render({"contact": Namespace("contact", {"first_name": "Ada"})})
    assert content.html == "Ada "
    assert content.undefined == {"who", "contact.city"}


def test_a_property_named_like_an_internal_stays_a_property() -> None:
    contact = Namespace("contact", {"path": "/a", "items": "not the method"})
    assert (
        _render("{{ contact.path }}|{{ contact['items'] }}", contact=contact) == "/a|not the method"
    )


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("fr", "1\u202f234,5 · 5 mars 2024 · 12,50\xa0€"),
        ("de", "1.234,5 · 05.03.2024 · 12,50\xa0€"),
        ("en", "1,234.5 · Mar 5, 2024 · €12.50"),
        ("xx-nowhere", "1,234.5 · Mar 5, 2024 · €12.50"),
    ],
)
def test_dates_and_numbers_follow_the_contact_locale(locale: str, expected: str) -> None:
    html = "{{ 1234.5|number }} · {{ '2024-03-05'|date }} · {{ 12.5|currency('EUR') }}"
    assert _render(html, locale=locale_for(locale)) == expected


def test_filters_print_bad_values_as_given() -> None:
    assert _render("{{ 'soon'|date }} {{ 'many'|number }}") == "soon many"
