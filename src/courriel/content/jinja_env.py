"""The sandbox customer templates run in, and the limits that stop a runaway one.

Templates are untrusted code written by tenants. Jinja2's
`ImmutableSandboxedEnvironment` already refuses underscore attributes and
mutation of lists and dicts; on top of it this module:

- removes every escape hatch that is not needed in an e-mail: the `attr`,
  `format`, `center`, `indent`, `batch` and `slice` filters, `str.format`
  and `format_map`, `%`-formatting of strings, the `lipsum` global, and any
  loader (no `include`, `import` or `extends` of files);
- bounds memory: `*`, `**`, `+`, `~`, `join`, `replace` and the padding
  methods refuse results beyond `max_output` characters before building them;
- bounds arithmetic: an integer operand or result above `MAX_INT_BITS` bits
  is refused before the operation runs (squaring a number 24 times is one C
  call per step that holds the interpreter lock for seconds, and no loop
  guard can interrupt a single call);
- bounds time: every loop iteration and macro call draws on a per-render
  budget and checks the deadline (the AST is rewritten at compile time so a
  template cannot opt out), every call, filter and arithmetic operation
  checks the deadline too (so a template of many expensive statements and no
  loop stops as well), and the output stream is checked chunk by chunk.

With every single operation bounded in size, no step of a render holds the
interpreter lock for long: a render in a request thread lets the event loop
and other tenants' requests run, and stops at its deadline.

Exceeding a limit raises `RenderLimitError`; the caller fails that one
recipient with the reason and carries on.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape


@dataclass(frozen=True)
class RenderLimits:
    """What one render of one template part may cost."""

    max_seconds: float = 0.5
    max_output: int = 1_000_000
    max_iterations: int = 20_000


# Integers in templates: amounts, counts, years. 1,024 bits (308 digits) is far
# beyond any of them, and arithmetic at that size takes microseconds.
MAX_INT_BITS = 1024

DEFAULT_LIMITS = RenderLimits()


class RenderLimitError(SecurityError):
    """A render went over one of its limits; the message says which."""


class _Budget:
    __slots__ = ("deadline", "iterations", "limits")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.max_seconds
        self.iterations = limits.max_iterations

    def tick(self) -> None:
        self.iterations -= 1
        if self.iterations < 0:
            raise RenderLimitError(
                f"the template ran more than {self.limits.max_iterations} loop iterations"
            )
        if not self.iterations & 63 and time.monotonic() > self.deadline:
            self.timed_out()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            self.timed_out()

    def timed_out(self) -> None:
        raise RenderLimitError(f"the template took longer than {self.limits.max_seconds:g} s")


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "courriel_render_budget", default=None
)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:
        # Rendering outside `render_limited` (e.g. a stray call) still gets limits.
        budget = _Budget(DEFAULT_LIMITS)
        _BUDGET.set(budget)
    return budget


def _max_output() -> int:
    return _budget().limits.max_output


def _too_big(size: int) -> None:
    if size > _max_output():
        raise RenderLimitError(f"the template built a value longer than {_max_output()} characters")


# Attributes that format strings (and so can reach attributes by name or
# build huge strings) are refused on every object.
_REFUSED_ATTRIBUTES = frozenset({"format", "format_map", "mro", "expandtabs"})
_PADDING = frozenset({"ljust", "rjust", "center", "zfill"})
_DICT_ATTRIBUTES = frozenset(dir(dict))
PLAIN_DICTS: set[type] = {dict}
KEYS_FIRST: set[type] = set()
_REMOVED_FILTERS = ("attr", "format", "center", "indent", "batch", "slice", "xmlattr")


class CourrielSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with Courriel's extra refusals and limits."""

    intercepted_binops = frozenset({"*", "**", "+", "-", "%", "/", "//"})

    def __init__(self, *, autoescape: bool, finalize: Callable[[Any], Any]) -> None:
        super().__init__(autoescape=autoescape, finalize=finalize, loader=None, auto_reload=False)
        for name in _REMOVED_FILTERS:
            self.filters.pop(name, None)
        self.globals.pop("lipsum", None)
        self.globals["range"] = _guarded_range
        self.filters["join"] = _guarded_join
        self.filters["replace"] = _guarded_replace
        # Every filter checks the deadline after it ran (each one is bounded in
        # size by the guards above), so a template without loops stops too.
        for name, function in list(self.filters.items()):
            self.filters[name] = _timed(function)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Jinja's default returns an undefined that prints as nothing; an
        # attack should stop the render with a clear reason instead.
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__} is not allowed"
        )

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Fast path for the dicts templates read most (`contact.first_name`,
        # `order.total`): Jinja tries the attribute first and fails with an
        # exception before trying the key, on every use. Same result here for
        # plain dicts (a dict method of that name would have won, so those go
        # the slow way); the data namespaces (`contact`) are keys first, so a
        # property named "items" or "values" is the property.
        kind = type(obj)
        if (
            kind in PLAIN_DICTS
            and (kind in KEYS_FIRST or attribute not in _DICT_ATTRIBUTES)
            and attribute in obj
            and not attribute.startswith("_")
        ):
            return obj[attribute]
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Any:
        # Jinja would hand out a sandboxed `str.format`; a format spec can
        # still pad to any width, and nothing in an e-mail needs it.
        if getattr(value, "__name__", None) in ("format", "format_map") and isinstance(
            getattr(value, "__self__", None), str
        ):
            raise SecurityError("str.format is not available in templates")
        return None

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in _REFUSED_ATTRIBUTES:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Padding and replacing can multiply a string's size in one call;
        # their result size is known before they run.
        _budget().check_time()
        name = getattr(obj, "__name__", "")
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str) and args:
            if name in _PADDING and isinstance(args[0], int):
                _too_big(args[0])
            elif name == "replace" and len(args) >= 2:
                _check_replace(owner, args[0], args[1])
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _budget().check_time()
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
        elif operator == "**":
            if isinstance(right, int) and abs(right) > 64 and not (-1 <= left <= 1):
                raise RenderLimitError("the template raised a number to a power above 64")
        elif operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                _too_big(len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            raise SecurityError("%-formatting of strings is not available in templates")
        _check_integers(operator, left, right)
        return super().call_binop(context, operator, left, right)

    # Called from the rewritten AST (see `guard`): not reachable by name
    # from template code, so a template cannot shadow or skip them.
    def loop_guard(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """Iterate while drawing on the render's iteration budget."""
        budget = _budget()
        for item in iterable:
            budget.tick()
            yield item

    def call_guard(self) -> str:
        """Count a macro call against the budget (recursion costs too)."""
        _budget().tick()
        return ""

    def concat_guard(self, *parts: Any) -> str:
        """The `~` operator, refusing results beyond the output limit."""
        pieces = [str(p) for p in parts]
        _too_big(sum(len(p) for p in pieces))
        joined = "".join(pieces)
        if any(isinstance(p, Markup) for p in parts):
            # Same as Jinja's markup_join: escape whatever is not markup.
            return Markup("").join(p if isinstance(p, Markup) else Markup.escape(p) for p in parts)
        return joined


def _bits(value: Any) -> int:
    """The size of an integer operand (0 for anything else: floats are bounded by nature)."""
    return value.bit_length() if isinstance(value, int) else 0


def _check_integers(operator: str, left: Any, right: Any) -> None:
    """Refuse integer arithmetic whose operands or result go beyond `MAX_INT_BITS`."""
    left_bits, right_bits = _bits(left), _bits(right)
    if not (left_bits or right_bits):
        return
    if operator == "*" and isinstance(left, int) and isinstance(right, int):
        result_bits = left_bits + right_bits
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        result_bits = left_bits * min(right, MAX_INT_BITS + 1) if abs(left) > 1 else 1
    else:
        result_bits = max(left_bits, right_bits) + 1
    if max(left_bits, right_bits, result_bits) > MAX_INT_BITS:
        raise RenderLimitError(
            f"the template did arithmetic on a number larger than {MAX_INT_BITS} bits"
        )


def _timed(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` followed by a deadline check; keeps Jinja's pass_context marks."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        _budget().check_time()
        return result

    pass_arg = getattr(function, "jinja_pass_arg", None)
    if pass_arg is not None:
        timed.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    timed.__name__ = getattr(function, "__name__", "filter")
    return timed


def _check_repeat(seq: Any, times: Any) -> None:
    if (
        isinstance(seq, str | list | tuple)
        and isinstance(times, int)
        and not isinstance(times, bool)
    ):
        _too_big(len(seq) * max(times, 0))


def _check_replace(value: str, old: Any, new: Any) -> None:
    if isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
        count = value.count(old) if old else len(value) + 1
        _too_big(len(value) + count * (len(new) - len(old)))


def _guarded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > _budget().limits.max_iterations:
        raise RenderLimitError(
            f"range() of {len(result)} items is above the limit of "
            f"{_budget().limits.max_iterations}"
        )
    return result


def _guarded_join(value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    if attribute is not None:
        raise SecurityError("join(attribute=...) is not available in templates")
    items = [x if isinstance(x, Markup) else str(x) for x in value]
    _too_big(sum(len(x) for x in items) + len(d) * max(len(items) - 1, 0))
    if any(isinstance(x, Markup) for x in items):
        return escape(d).join(items)
    return d.join(items)


def _guarded_replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    text = value if isinstance(value, str) else str(value)
    _check_replace(text, old, new)
    if isinstance(value, Markup):
        return value.replace(old, new, -1 if count is None else count)
    return text.replace(old, new, -1 if count is None else count)


def guard(tree: nodes.Template) -> nodes.Template:
    """Rewrite a parsed template so loops, macros and `~` draw on the budget."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Call(
            nodes.EnvironmentAttribute("loop_guard"), [loop.iter], [], None, None
        )
    bodies: list[list[nodes.Node]] = [m.body for m in tree.find_all(nodes.Macro)]
    bodies += [c.body for c in tree.find_all(nodes.CallBlock)]
    for body in bodies:
        tick = nodes.Output(
            [nodes.Call(nodes.EnvironmentAttribute("call_guard"), [], [], None, None)]
        )
        body.insert(0, tick)
    _replace_concat(tree)
    return tree


def _replace_concat(node: nodes.Node) -> None:
    for name, value in node.iter_fields():
        if isinstance(value, nodes.Concat):
            setattr(node, name, _concat_call(value))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, nodes.Concat):
                    value[i] = _concat_call(item)
        if isinstance(value, nodes.Node):
            _replace_concat(getattr(node, name))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, nodes.Node):
                    _replace_concat(item)


def _concat_call(node: nodes.Concat) -> nodes.Call:
    call = nodes.Call(nodes.EnvironmentAttribute("concat_guard"), list(node.nodes), [], None, None)
    call.set_lineno(node.lineno)
    return call


def render_limited(render: Callable[[], Iterator[str]], limits: RenderLimits) -> str:
    """Run one render under `limits`, streaming its output to bound the size.

    Time is checked by the loop and macro guards (a template without loops
    or macros runs in time proportional to its own length), not per chunk.
    """
    return "".join(render_limited_chunks(render, limits))


def render_limited_chunks(render: Callable[[], Iterator[str]], limits: RenderLimits) -> list[str]:
    """`render_limited` without the final join: the chunks as the template wrote them."""
    token = _BUDGET.set(_Budget(limits))
    try:
        chunks: list[str] = []
        size = 0
        for chunk in render():
            size += len(chunk)
            if size > limits.max_output:
                raise RenderLimitError(f"the output is longer than {limits.max_output} characters")
            chunks.append(chunk)
        return chunks
    finally:
        _BUDGET.reset(token)
