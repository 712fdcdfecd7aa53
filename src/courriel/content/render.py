"""Personalization: a template version compiled once, rendered for many recipients.

Customer templates are untrusted code; they compile in `sandbox.CourrielSandbox`
and every render runs under `RenderLimits`. The HTML part autoescapes (a
contact's `<script>` arrives as text), the subject and text part do not (they
are not HTML). Undefined variables render as nothing and are recorded, so a
preview can list them (`RenderedContent.undefined`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Template, TemplateSyntaxError, Undefined, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from markupsafe import Markup, escape

from courriel.content import formatting
from courriel.content.jinja_env import (
    DEFAULT_LIMITS,
    KEYS_FIRST,
    PLAIN_DICTS,
    CourrielSandbox,
    RenderLimitError,
    RenderLimits,
    guard,
    render_limited_chunks,
)
from courriel.content.linktracking import (
    LINK_FILTER,
    PIXEL_FILTER,
    PREHEADER_FILTER,
    LinkSlots,
)
from courriel.content.text import html_to_text
from courriel.core.errors import InvalidInputError

# Set by the composer for one message (keys no template can assign):
# the href of each tracked link by position (click URLs; absent when the
# message is not tracked), the rendered preheader, the pixel URL.
LINKS_KEY = "courriel:links"
PREHEADER_KEY = "courriel:preheader"
PIXEL_KEY = "courriel:pixel"
_PREHEADER_STYLE = (
    "display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;"
    "opacity:0;overflow:hidden;mso-hide:all"
)


class RenderError(Exception):
    """Rendering failed for one recipient; the reason is safe to show."""


class Namespace(dict[str, Any]):
    """A dict that knows its path ("contact"), so undefined keys can be named."""

    def __init__(self, path: str, values: dict[str, Any]) -> None:
        super().__init__(values)
        # Underscored: templates cannot read it, and a key "path" stays a key.
        self._path = path


PLAIN_DICTS.add(Namespace)
KEYS_FIRST.add(Namespace)


_UNDEFINED: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "courriel_undefined", default=None
)


class RecordingUndefined(Undefined):
    """Renders as nothing, and notes the variable's name for the preview."""

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = None,
        name: str | None = None,
        exc: type[Exception] = Exception,
    ) -> None:
        super().__init__(hint, obj, name, exc)  # type: ignore[arg-type]
        seen = _UNDEFINED.get()
        if seen is not None and name is not None:
            prefix = f"{obj._path}." if isinstance(obj, Namespace) else ""  # noqa: SLF001
            seen.add(prefix + name)


def _finalize(value: Any) -> Any:
    # A missing first name should read as nothing, not as "None".
    return "" if value is None else value


def _environment(autoescape: bool) -> CourrielSandbox:
    env = CourrielSandbox(autoescape=autoescape, finalize=_finalize)
    env.undefined = RecordingUndefined
    formatting.install(env)
    env.filters[LINK_FILTER] = _tracked_link
    env.filters[PREHEADER_FILTER] = _preheader
    env.filters[PIXEL_FILTER] = _pixel
    return env


@pass_context
def _tracked_link(context: Context, original: str, index: int) -> Markup:
    links = context.get(LINKS_KEY)
    # Both are trusted: `original` is the template's own literal attribute
    # text and a click URL is built by us from URL-safe characters.
    if links is None or not isinstance(index, int):
        return Markup(original)  # noqa: S704
    return Markup(links[index])  # noqa: S704


@pass_context
def _preheader(context: Context, _value: str) -> Markup:
    text = context.get(PREHEADER_KEY)
    if not text or not isinstance(text, str):
        return Markup("")
    return Markup('<div style="{}">{}</div>').format(_PREHEADER_STYLE, text)


@pass_context
def _pixel(context: Context, _value: str) -> Markup:
    url = context.get(PIXEL_KEY)
    if not url or not isinstance(url, str):
        return Markup("")
    # Concatenation: Markup.format runs a Python-level formatter per message.
    return Markup(  # noqa: S704 - the only variable part, the URL, is escaped
        f'<img src="{escape(url)}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px">'
    )


HTML_ENV = _environment(autoescape=True)
TEXT_ENV = _environment(autoescape=False)


@dataclass(frozen=True)
class RenderedContent:
    """What one recipient gets."""

    subject: str
    html: str
    text: str
    preheader: str = ""
    undefined: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class RenderedChunks:
    """What one recipient gets, as the chunks the templates wrote, for encoding.

    Static text comes as the compiled template's own string objects, so the
    encoder can recognize it by identity; link slots are still markers.
    """

    subject: str
    html: list[str]
    text: list[str]
    preheader: str = ""
    undefined: frozenset[str] = field(default_factory=frozenset)


def compile_part(env: CourrielSandbox, source: str | nodes.Template, part: str) -> Template:
    """Parse, guard and compile one template part, naming the part on an error."""
    tree = parse_part(env, source, part) if isinstance(source, str) else source
    try:
        return env.from_string(guard(tree))
    except TemplateSyntaxError as exc:
        # Unknown filters (`attr`, `format` are removed) are found here.
        raise InvalidInputError(
            part, f"template error on line {exc.lineno}: {exc.message}"
        ) from None


def parse_part(env: CourrielSandbox, source: str, part: str) -> nodes.Template:
    """The AST of one template part (a syntax error names the part and line)."""
    try:
        return env.parse(source)
    except TemplateSyntaxError as exc:
        raise InvalidInputError(
            part, f"template error on line {exc.lineno}: {exc.message}"
        ) from None


class CompiledTemplate:
    """A template version compiled once, rendered for many recipients.

    `html` may be a parsed tree already rewritten for link tracking
    (`linktracking.rewrite_links`, whose result is `links`); a string is
    parsed here.
    """

    def __init__(
        self,
        subject: str,
        html: str | nodes.Template,
        text: str | None,
        *,
        preheader: str = "",
        html_source: str | None = None,
        links: LinkSlots | None = None,
        limits: RenderLimits = DEFAULT_LIMITS,
    ) -> None:
        self.limits = limits
        self.links = links
        # The environments' globals (range, dict, …) as one plain dict: a
        # template's own are a ChainMap, slow to copy into every context.
        self._globals = {**TEXT_ENV.globals, **HTML_ENV.globals}
        self._subject = compile_part(TEXT_ENV, subject, "subject")
        self._html = compile_part(HTML_ENV, html, "html")
        self._preheader = compile_part(TEXT_ENV, preheader, "preheader") if preheader else None
        # The text part is made from the HTML template once, here, not from
        # each rendered message: converting HTML costs more than rendering.
        if text is None:
            source = html_source if html_source is not None else html
            text = html_to_text(source) if isinstance(source, str) else None
        self._text = compile_part(TEXT_ENV, text, "text") if text else None

    @property
    def html_template(self) -> Template:
        """The compiled HTML part (its constants are the static text)."""
        return self._html

    @property
    def text_template(self) -> Template | None:
        """The compiled text part, when there is one to render."""
        return self._text

    def render(self, context: dict[str, Any]) -> RenderedContent:
        """Render for one recipient; raises RenderError with a clear reason."""
        chunks = self.render_chunks(context)
        html = "".join(chunks.html)
        if self.links is not None:
            html = self.links.fill(html, context.get(LINKS_KEY))
        return RenderedContent(
            subject=chunks.subject,
            html=html,
            text="".join(chunks.text) if self._text else html_to_text(html),
            preheader=chunks.preheader,
            undefined=chunks.undefined,
        )

    def render_chunks(self, context: dict[str, Any]) -> RenderedChunks:
        """`render` as the templates' output chunks (no text part if none is compiled)."""
        seen: set[str] = set()
        token = _UNDEFINED.set(seen)
        # One variables dict for every part: Jinja reads it, never writes it.
        parent = {**self._globals, **context}
        try:
            subject = "".join(self._run(self._subject, parent, "subject"))
            preheader = (
                "".join(self._run(self._preheader, parent, "preheader")) if self._preheader else ""
            )
            parent[PREHEADER_KEY] = " ".join(preheader.split())
            html = self._run(self._html, parent, "html")
            text = self._run(self._text, parent, "text") if self._text else []
        finally:
            _UNDEFINED.reset(token)
        if any(ch in subject for ch in "\r\n\x00"):
            raise RenderError("the rendered subject contains a line break")
        return RenderedChunks(
            subject=subject.strip(),
            html=html,
            text=text,
            preheader=parent[PREHEADER_KEY],
            undefined=frozenset(seen),
        )

    def _run(self, template: Template, parent: dict[str, Any], part: str) -> list[str]:
        def stream() -> Iterator[str]:
            # The compiled function itself: `Template.generate` adds a
            # generator layer and traceback rewriting we do not need. The
            # context as `Template.new_context(parent, shared=True)` makes
            # it, without copying the template's globals (in `parent`).
            env = template.environment
            context = env.context_class(
                env, parent, template.name, template.blocks, globals=self._globals
            )
            return template.root_render_func(context)

        try:
            return render_limited_chunks(stream, self.limits)
        except RenderLimitError as exc:
            raise RenderError(f"{part}: limit exceeded: {exc}") from None
        except SecurityError as exc:
            raise RenderError(f"{part}: the template tried an unsafe operation: {exc}") from None
        except RecursionError:
            raise RenderError(f"{part}: the template recursed too deeply") from None
        except Exception as exc:  # noqa: BLE001 - any template failure fails one recipient only
            raise RenderError(f"{part}: the template failed: {type(exc).__name__}: {exc}") from None
