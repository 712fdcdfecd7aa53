"""The strings the web application marks for translation, as Babel extracts them."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

import courriel.web.ui

UI = Path(courriel.web.ui.__file__).parent
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
    return found
