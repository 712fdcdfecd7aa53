"""The strings the web application marks for translation, as Babel extracts them."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir, extract_from_file

import courriel.web.ui

UI = Path(courriel.web.ui.__file__).parent
# The recipients' pages outside the application that speak the person's language.
RECIPIENT_PAGES = [UI.parent / "pages" / name for name in ("tracking.py", "reconfirm.py")]
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.do"}}
KEYWORDS = {"_": None, "N_": None, "gettext": None}


def marked_strings() -> dict[str, str]:
    """Every marked message of the application → where it was first found."""
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(UI), METHODS, OPTIONS, KEYWORDS
    ):
        text = message if isinstance(message, str) else message[0]
        found.setdefault(text, f"{filename}:{lineno}")
    for page in RECIPIENT_PAGES:
        for lineno, message, _comments, _context in extract_from_file("python", page, KEYWORDS):
            text = message if isinstance(message, str) else message[0]
            found.setdefault(text, f"{page.name}:{lineno}")
    return found
