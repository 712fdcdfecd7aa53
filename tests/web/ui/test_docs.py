"""docs/ui.md shows a screenshot of every page the journeys take, and each exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
UI_DOC = ROOT / "docs" / "ui.md"
SHOTS = ROOT / "docs" / "screenshots"
_SNAP = re.compile(r'snap\("([a-z0-9-]+)"\)')
_LINK = re.compile(r"\(screenshots/([a-z0-9-]+\.jpg)\)")


def test_every_screenshot_taken_is_shown_and_every_one_shown_exists() -> None:
    taken = {
        name
        for test in (ROOT / "tests" / "web" / "ui").glob("test_*.py")
        for name in _SNAP.findall(test.read_text(encoding="utf-8"))
    }
    shown = set(_LINK.findall(UI_DOC.read_text(encoding="utf-8")))
    assert taken, "the journeys take no screenshot"
    missing = sorted(f"{name}.jpg" for name in taken if f"{name}.jpg" not in shown)
    assert not missing, f"docs/ui.md does not show: {missing}"
    absent = sorted(name for name in shown if not (SHOTS / name).is_file())
    assert not absent, f"run `make screenshots`: {absent}"
