"""A message of a page's own, said in the viewer's language (for errors set in Python)."""

from __future__ import annotations

from courriel.web.ui.i18n import translations
from courriel.web.ui.viewer import Viewer


def said(viewer: Viewer, message: str) -> str:
    """`message` (marked with `N_`) translated for `viewer`."""
    return translations(viewer.language).gettext(message)
