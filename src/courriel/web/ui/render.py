"""Rendering a page: one autoescaping Jinja2 environment per language.

Templates live in `templates/` and extend `layout.html`. Strings are marked
with `_()` (Jinja2's i18n extension, new-style gettext: placeholders are
escaped like everything else) and translated from the Babel catalogues.
A request from htmx (header `HX-Request`) may render a fragment only.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from courriel.web.ui import nav
from courriel.web.ui.i18n import LANGUAGES, translations
from courriel.web.ui.viewer import Viewer


def _json_script(value: Any) -> Markup:
    """`value` as JSON safe inside a <script type="application/json"> element."""
    text = json.dumps(value, separators=(",", ":"), default=str)
    # "</script>" and "<!--" cannot occur: every "<", ">" and "&" is escaped.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 (escaped above for the script context)


def _datetime(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if value is None else value.strftime(fmt) + (" UTC" if "%H" in fmt else "")


@functools.cache
def environment(language: str) -> Environment:
    """The templates, speaking `language`."""
    env = Environment(
        loader=PackageLoader("courriel.web.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n", "jinja2.ext.do"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["json_script"] = _json_script
    env.filters["datetime"] = _datetime
    env.globals["LANGUAGES"] = LANGUAGES
    return env


def render(
    request: Request,
    viewer: Viewer | None,
    template: str,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page `template` for `viewer`, with the navigation its role allows."""
    language = viewer.language if viewer is not None else "en"
    path = request.url.path
    body = (
        environment(language)
        .get_template(template)
        .render(
            viewer=viewer,
            csrf=viewer.csrf if viewer is not None else "",
            sections=nav.sections(viewer.principal) if viewer is not None else [],
            current=nav.current(path),
            path=path,
            language=language,
            htmx=request.headers.get("hx-request") == "true",
            **context,
        )
    )
    return HTMLResponse(body, status_code=status)
