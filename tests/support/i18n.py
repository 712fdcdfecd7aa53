"""The strings the web application marks for translation, as Babel extracts them."""

from __future__ import annotations

import ast
import io
from pathlib import Path

from babel.messages.extract import extract_from_dir, extract_from_file
from jinja2.ext import babel_extract

import courriel.web.ui

UI = Path(courriel.web.ui.__file__).parent
# Pages outside the application that speak the person's language: the
# recipients' pages, and the account pages before sign-in (their templates
# are strings in the module; their Python marks its own messages).
PAGES = UI.parent / "pages"
RECIPIENT_PAGES = [PAGES / name for name in ("tracking.py", "reconfirm.py")]
ACCOUNT_PAGES = [PAGES / name for name in ("signin.py", "reset.py", "invitation.py")]
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
    for page in RECIPIENT_PAGES + ACCOUNT_PAGES:
        for lineno, message, _comments, _context in extract_from_file("python", page, KEYWORDS):
            text = message if isinstance(message, str) else message[0]
            found.setdefault(text, f"{page.name}:{lineno}")
    for page in [*ACCOUNT_PAGES, PAGES / "accountbase.py"]:
        for name, source in _template_strings(page):
            for lineno, _func, said, _comments in babel_extract(
                io.BytesIO(source.encode()), list(KEYWORDS), [], {}
            ):
                if isinstance(said, str):
                    found.setdefault(said, f"{page.name}:{name}:{lineno}")
    return found


def _template_strings(module: Path) -> list[tuple[str, str]]:
    """The Jinja templates written as string constants in `module` (`_("…")` inside)."""
    return [
        (f"line {node.lineno}", node.value)
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "{{ _(" in node.value
    ]
