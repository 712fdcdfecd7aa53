"""Personalization in a sandboxed Jinja2 environment, compiled once per template version.

Customer templates are untrusted code: they run in Jinja2's
`ImmutableSandboxedEnvironment` (no underscore attributes, no mutation of
the context, no loading from disk). The hard limits on render time, output
size and loops come with issue 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from courriel.content.text import html_to_text
from courriel.core.errors import InvalidInputError


class RenderError(Exception):
    """Rendering failed for one recipient; the reason is safe to show."""


def _finalize(value: Any) -> Any:
    # A missing first name should read as nothing, not as "None".
    return "" if value is None else value


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        autoescape=autoescape,
        undefined=Undefined,
        finalize=_finalize,
        # No loader: a template can never include or import a file.
        loader=None,
        auto_reload=False,
    )


_HTML = _environment(autoescape=True)
_TEXT = _environment(autoescape=False)


@dataclass(frozen=True)
class RenderedContent:
    """What one recipient gets."""

    subject: str
    html: str
    text: str


class CompiledTemplate:
    """A template version compiled once, rendered for many recipients."""

    def __init__(self, subject: str, html: str, text: str | None) -> None:
        try:
            self._subject = _TEXT.from_string(subject)
            self._html = _HTML.from_string(html)
            self._text = _TEXT.from_string(text) if text else None
        except TemplateSyntaxError as exc:
            field = "subject" if exc.source == subject else "html" if exc.source == html else "text"
            raise InvalidInputError(
                field, f"template error on line {exc.lineno}: {exc.message}"
            ) from None

    def render(self, context: dict[str, Any]) -> RenderedContent:
        """Render for one recipient; raises RenderError with a clear reason."""
        try:
            subject = self._subject.render(context)
            html = self._html.render(context)
            text = self._text.render(context) if self._text else html_to_text(html)
        except SecurityError as exc:
            raise RenderError(f"template refused an unsafe operation: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - any template failure fails one recipient only
            raise RenderError(f"template failed: {type(exc).__name__}: {exc}") from None
        if any(ch in subject for ch in "\r\n\x00"):
            raise RenderError("the rendered subject contains a line break")
        return RenderedContent(subject=subject.strip(), html=html, text=text)
