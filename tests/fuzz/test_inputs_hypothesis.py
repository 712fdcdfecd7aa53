"""Property-based fuzzing (Hypothesis) of what attackers and bad files control.

Templates, header text, uploaded files and numbers in paths: whatever they
hold, the answer is a result or a clear error, never a crash or a raw
control character on the wire.
"""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courriel.audience.tabular import FileRows, ReadLimits
from courriel.content import headers as h
from courriel.content.jinja_env import DEFAULT_LIMITS
from courriel.content.render import CompiledTemplate, RenderError
from courriel.core.errors import InvalidInputError
from tests.support.tenants import TenantAccess

FAST = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
_RAW_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Template sources built from the pieces that matter to the sandbox.
_PIECES = st.sampled_from(
    [
        "{{ ",
        " }}",
        "{% ",
        " %}",
        "for i in range(",
        ")",
        "set n = ",
        "n * n",
        "9" * 40,
        " ** ",
        " + ",
        " - ",
        " // ",
        "'x' * ",
        "|join",
        "|int",
        "|replace('a','bb')",
        "namespace(n=10)",
        "ns.n",
        "{% endfor %}",
        "{% if n %}",
        "{% endif %}",
        "contact.",
        "first_name",
        "__class__",
        "lipsum",
        "range(10**6)",
        "(",
        ")",
        ",",
        "'",
        '"',
        "\x0b",
    ]
)


@FAST
@given(st.lists(_PIECES, max_size=24).map("".join))
def test_any_template_compiles_or_renders_to_a_result_or_a_clear_error(source: str) -> None:
    started = time.monotonic()
    try:
        template = CompiledTemplate("Hi {{ contact.first_name }}", source, None)
        rendered = template.render({"contact": {"first_name": "Ada"}})
    except (InvalidInputError, RenderError):
        pass
    else:
        assert isinstance(rendered.html, str)
    assert time.monotonic() - started < DEFAULT_LIMITS.max_seconds + 2


@FAST
@given(st.text(max_size=300))
def test_any_subject_is_written_without_raw_control_characters(text: str) -> None:
    value = h.unstructured(text)
    line = h.header_line("Subject", value)
    assert value.isascii()
    assert _RAW_CONTROL.search(value) is None
    assert line.endswith(b"\r\n")
    assert b"\r\n" not in line[:-2].replace(b"\r\n ", b"")


@FAST
@given(st.dictionaries(st.text(max_size=30), st.text(max_size=60), max_size=4))
def test_any_custom_headers_are_kept_clean_or_refused_by_name(headers: dict[str, str]) -> None:
    try:
        clean = h.validate_custom_headers(headers)
    except InvalidInputError as exc:
        refused: str | None = exc.field
    else:
        refused = None
    if refused is not None:
        assert refused.startswith("headers")
        return
    for name, value in clean.items():
        assert _RAW_CONTROL.search(name + value) is None
        assert "\r" not in value
        assert "\n" not in value


@FAST
@given(
    st.one_of(
        st.binary(min_size=1, max_size=2000),
        st.lists(
            st.sampled_from(
                [
                    b"email",
                    b",",
                    b";",
                    b'"',
                    b"\n",
                    b"\r",
                    b"a@example.com",
                    b"\xfc",
                    b"\xc3\xbc",
                    b"\x00",
                    b"\xef\xbb\xbf",
                    b"PK\x03\x04",
                    b"\xff\xfe",
                ]
            ),
            min_size=1,
            max_size=60,
        ).map(b"".join),
    )
)
def test_any_uploaded_file_reads_as_rows_or_a_clear_file_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("upload") / "file.csv"
    path.write_bytes(data)
    try:
        for line, cells in FileRows(path, ReadLimits()):
            assert line >= 1
            assert all(isinstance(cell, str) for cell in cells)
            assert all("\ufffd" not in cell for cell in cells if type(cells) is list)
    except InvalidInputError as exc:
        refused: str | None = exc.field
    else:
        refused = None
    assert refused in (None, "file")


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(number=st.integers(min_value=-(2**80), max_value=2**80))
def test_any_number_in_a_path_is_an_answer_never_a_500(
    client: TestClient, tenant_a: TenantAccess, number: int
) -> None:
    for method, path in (
        ("DELETE", f"/v1/suppressions/{number}"),
        ("GET", f"/v1/templates/tpl_x/versions/{number}"),
    ):
        response = client.request(method, path, headers=tenant_a.headers)
        assert response.status_code in (204, 404, 422), response.text
        if response.status_code != 204:
            assert response.headers["content-type"] == "application/problem+json"
