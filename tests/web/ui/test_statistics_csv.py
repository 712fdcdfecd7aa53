"""The statistics CSV: a cell a spreadsheet would run as a formula is written as text."""

from __future__ import annotations

import pytest

from courriel.web.ui.statistics import _cell


@pytest.mark.parametrize("text", ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx"])
def test_a_formula_is_written_as_text(text: str) -> None:
    assert _cell(text) == "'" + text


def test_a_url_or_a_day_is_written_as_it_is() -> None:
    assert _cell("https://shop.test/sale?season=spring") == "https://shop.test/sale?season=spring"
    assert _cell("2026-12-03") == "2026-12-03"
