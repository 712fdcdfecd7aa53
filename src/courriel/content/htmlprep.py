"""Turning what the author wrote into sendable HTML, once per template version.

MJML is compiled to HTML (mjml-python) and CSS from `<style>` blocks is
inlined (css-inline), because many mail clients ignore style sheets. Both
tools parse markup, and Jinja tags are not markup (`{% if a < b %}` breaks
the MJML parser, and an HTML parser would escape the quotes in
`{{ x|default("y") }}`): every Jinja tag is swapped for an inert placeholder
first and put back afterwards. Loops around MJML sections belong in
`<mj-raw>` so the compiler keeps them where they are.
"""

from __future__ import annotations

import re

import css_inline
import mjml

from courriel.content.models import SourceFormat
from courriel.core.errors import InvalidInputError

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_PLACEHOLDER = re.compile(r"cjph(\d+)x")
_MJ_STYLE = re.compile(r"<mj-style\b[^>]*>(.*?)</mj-style>", re.DOTALL | re.IGNORECASE)
# Where MJML fetches <mj-social-element> icons when the author gives no src.
_MJML_ICON_HOST = "https://www.mailjet.com/images/theme/v1/icons/ico-social/"
_MSO_SEAM = "<![endif]--><!--[if mso | IE]>"
# Style sheets stay in <head> too: media queries and clients that read them.
_HTML_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


def _protect(source: str) -> tuple[str, list[str]]:
    if _PLACEHOLDER.search(source):
        raise InvalidInputError("source", "contains a reserved word of the form cjph<number>x")
    tags: list[str] = []

    def swap(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return f"cjph{len(tags) - 1}x"

    return _JINJA.sub(swap, source), tags


def _restore(html: str, tags: list[str]) -> str:
    def back(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return tags[index] if index < len(tags) else match.group(0)

    return _PLACEHOLDER.sub(back, html)


def prepare_html(source: str, source_format: SourceFormat) -> str:
    """Sendable HTML (Jinja tags intact) from MJML or HTML source."""
    protected, tags = _protect(source)
    inliner = _HTML_INLINER if "<style" in protected.lower() else None
    if source_format is SourceFormat.MJML:
        # Only the author's <mj-style> rules are inlined: MJML's own reset
        # rules are meant for <head> (inlining them on every cell would make
        # the HTML several times larger, and every message with it).
        author_css = "\n".join(_MJ_STYLE.findall(protected))
        inliner = (
            css_inline.CSSInliner(
                inline_style_tags=False,
                keep_style_tags=True,
                load_remote_stylesheets=False,
                extra_css=author_css,
            )
            if author_css.strip()
            else None
        )
        try:
            # fonts={}: MJML would otherwise add a Google Fonts <link> and
            # @import for its default font, and every reader who opens the
            # message would tell that host their IP. An author's own
            # <mj-font> still loads from where the author put it.
            protected = mjml.mjml2html(protected, disable_comments=True, fonts={})
        except Exception as exc:  # noqa: BLE001 - the compiler's errors are plain exceptions
            raise InvalidInputError("mjml", f"MJML does not compile: {exc}") from None
        if _MJML_ICON_HOST in protected:
            # <mj-social-element> without a src takes its icon from MJML's own
            # host: every reader who opens the message would ask that host for
            # it, which the author never chose (issue 19, item 18).
            raise InvalidInputError(
                "mjml",
                "an <mj-social-element> without a src loads its icon from www.mailjet.com; "
                "give it a src (an icon you host) so the message asks no other host",
            )
        # Outlook-only blocks that end where the next begins are one block;
        # MJML's own minifier merges them too. About 3 % of the HTML, which
        # every message carries (and hashes for DKIM).
        protected = protected.replace(_MSO_SEAM, "")
    if inliner is not None:
        try:
            protected = inliner.inline(protected)
        except (ValueError, css_inline.InlineError) as exc:
            raise InvalidInputError("html", f"CSS cannot be inlined: {exc}") from None
    return _restore(protected, tags)
