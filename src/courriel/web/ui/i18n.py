"""The application's languages: Babel message catalogues, one per page group.

Catalogues are the `.po` files under `locale/<language>/`; they are read and
compiled in memory on first use, so a checkout runs without a build step.
Each page group keeps its own file, and all the files of a language are
merged into one set of translations.
"""

from __future__ import annotations

import functools
import gettext
import io
from importlib import resources

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

# The languages a user may choose, each named in itself.
LANGUAGES = {"en": "English", "fr": "Français"}
DEFAULT = "en"
LOCALE_DIR = resources.files("courriel.web.ui") / "locale"


def N_(message: str) -> str:  # noqa: N802 (the gettext convention for "translate later")
    """Mark `message` for extraction; it is translated where it is shown."""
    return message


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The merged catalogues of `language` (no translation for English, the source)."""
    merged: Translations | None = None
    folder = LOCALE_DIR / language
    if language == DEFAULT or not folder.is_dir():
        return NullTranslations()
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".po"):
            continue
        with entry.open("rb") as po:
            catalog = read_po(po, locale=language)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        part = Translations(compiled)
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    return merged if merged is not None else NullTranslations()


def negotiate(chosen: str, accept_language: str) -> str:
    """The user's chosen language, else the browser's best supported one, else English."""
    if chosen in LANGUAGES:
        return chosen
    wanted = []
    for part in accept_language.split(",")[:20]:
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag and tag != "*":
            wanted.append(tag)
    found = Locale.negotiate(wanted, list(LANGUAGES), sep="_") if wanted else None
    return str(found.language) if found is not None else DEFAULT
