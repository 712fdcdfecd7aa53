"""Where the editor points for a refused field: the line of the step and field named."""

from __future__ import annotations

from courriel.web.ui.workflow_text import locate

TEXT = """from_email: news@acme.test
trigger: {kind: list_subscribed, list_id: lst_1}
steps:
  - {key: hello-2, kind: send, template_id: tpl_a, next: hello}
  - key: hello
    kind: send
    template_id: tpl_b
"""


def test_the_line_of_a_step_field_by_key_or_by_place() -> None:
    found = locate(TEXT, "steps.hello.template_id")
    assert found is not None
    assert (found.line, found.text.strip()) == (7, "template_id: tpl_b")
    first = locate(TEXT, "steps.hello-2.template_id")
    assert first is not None
    assert first.line == 4
    by_place = locate(TEXT, "steps[1].kind")
    assert by_place is not None
    assert by_place.line == 6
    top = locate(TEXT, "trigger.list_id")
    assert top is not None
    assert top.line == 2


def test_a_field_not_written_is_not_pointed_at() -> None:
    assert locate(TEXT, "steps.nowhere.kind") is None
