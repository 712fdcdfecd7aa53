"""Tokenizer and recursive-descent parser of the segment language.

Grammar (keywords are case-insensitive)::

    expr      := and_expr ("or" and_expr)*
    and_expr  := unary ("and" unary)*
    unary     := "not" unary | "(" expr ")" | condition
    condition := FIELD OP value | FIELD ["not"] "in" "(" value ("," value)* ")"
               | FIELD "contains" STRING | FIELD "is" ["not"] "set"
               | ("opened" | "clicked") [ "within" NUMBER "days" | "campaign" STRING ]
               | "list" STRING | "sunset" STRING
               | ("subscribed" | "consented" | "created")
                 ("within" NUMBER "days" | ("before" | "after") STRING)

Strings are in double quotes (``\\"`` escapes a quote). Every error names the
position (0-based character offset) where the expression went wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from courriel.core.errors import InvalidInputError

MAX_LENGTH = 4000
MAX_DEPTH = 30
OPERATORS = ("!=", "<=", ">=", "=", "<", ">")
_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>-?\d+(?:\.\d+)?)'
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<op>!=|<=|>=|=|<|>)|(?P<punct>[(),]))"
)


class SegmentError(InvalidInputError):
    """A segment expression that cannot be read, with the position of the problem."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__("expression", f"at position {position}: {reason}")
        self.position = position


@dataclass(frozen=True)
class Token:
    kind: str  # string, number, word, op, punct, end
    text: str
    position: int

    @property
    def value(self) -> str | float:
        if self.kind == "string":
            return re.sub(r"\\(.)", r"\1", self.text[1:-1])
        if self.kind == "number":
            return float(self.text)
        return self.text


@dataclass(frozen=True)
class Compare:
    field: str
    op: str
    value: str | float
    position: int


@dataclass(frozen=True)
class InSet:
    field: str
    values: tuple[str | float, ...]
    negated: bool
    position: int


@dataclass(frozen=True)
class Contains:
    field: str
    value: str
    position: int


@dataclass(frozen=True)
class IsSet:
    field: str
    negated: bool
    position: int


@dataclass(frozen=True)
class Engagement:
    kind: str  # opened, clicked
    days: int | None
    campaign: str | None


@dataclass(frozen=True)
class Member:
    list_id: str
    # `sunset "<list>"`: on the list and left out by its sunset policy.
    sunset: bool = False


@dataclass(frozen=True)
class When:
    kind: str  # subscribed, consented, created
    mode: str  # within, before, after
    value: str | int
    position: int


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # and, or
    items: tuple[Node, ...]


Node = Compare | InSet | Contains | IsSet | Engagement | Member | When | Not | BoolOp


def tokenize(text: str) -> list[Token]:
    """The tokens of an expression, ending with an `end` token."""
    if len(text) > MAX_LENGTH:
        raise SegmentError(MAX_LENGTH, f"the expression is longer than {MAX_LENGTH} characters")
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            start = len(text) - len(text[position:].lstrip())
            raise SegmentError(start, f"unexpected character {text[start]!r}")
        kind = match.lastgroup
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class Parser:
    """Parses one expression into a tree of nodes."""

    def __init__(self, text: str) -> None:
        self._tokens = tokenize(text)
        self._at = 0
        self._depth = 0

    def parse(self) -> Node:
        """The whole expression; trailing tokens are an error."""
        if self._peek().kind == "end":
            raise SegmentError(0, "the expression is empty")
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            raise SegmentError(
                token.position, f"expected 'and', 'or' or the end, not {token.text!r}"
            )
        return node

    def _peek(self) -> Token:
        return self._tokens[self._at]

    def _next(self) -> Token:
        token = self._tokens[self._at]
        self._at += 1
        return token

    def _keyword(self, *words: str) -> bool:
        token = self._peek()
        return token.kind == "word" and token.text.lower() in words

    def _expect(self, kind: str, text: str | None = None, what: str = "") -> Token:
        token = self._next()
        if token.kind != kind or (text is not None and token.text.lower() != text):
            wanted = what or repr(text) if text else what or kind
            got = repr(token.text) if token.kind != "end" else "the end"
            raise SegmentError(token.position, f"expected {wanted}, found {got}")
        return token

    def _or(self) -> Node:
        items = [self._and()]
        while self._keyword("or"):
            self._next()
            items.append(self._and())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def _and(self) -> Node:
        items = [self._unary()]
        while self._keyword("and"):
            self._next()
            items.append(self._unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def _unary(self) -> Node:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise SegmentError(self._peek().position, "the expression is nested too deeply")
        try:
            if self._keyword("not"):
                self._next()
                return Not(self._unary())
            if self._peek().kind == "punct" and self._peek().text == "(":
                self._next()
                node = self._or()
                self._expect("punct", ")", "')'")
                return node
            return self._condition()
        finally:
            self._depth -= 1

    def _condition(self) -> Node:
        token = self._expect("word", what="a field or condition")
        word = token.text.lower()
        if word in ("opened", "clicked"):
            return self._engagement(word)
        if word in ("list", "sunset"):
            list_id = str(self._expect("string", what="a list id in quotes").value)
            return Member(list_id, sunset=word == "sunset")
        if word in ("subscribed", "consented", "created"):
            return self._when(word)
        return self._field_condition(token)

    def _engagement(self, kind: str) -> Node:
        if self._keyword("within"):
            self._next()
            return Engagement(kind, self._days(), None)
        if self._keyword("campaign"):
            self._next()
            return Engagement(kind, None, str(self._expect("string", what="a campaign id").value))
        return Engagement(kind, None, None)

    def _days(self) -> int:
        number = self._expect("number", what="a number of days")
        days = float(number.value)
        if not days.is_integer() or not 0 < days <= 36_500:
            raise SegmentError(number.position, "days must be a whole number from 1 to 36500")
        self._expect("word", "days", "'days'")
        return int(days)

    def _when(self, kind: str) -> Node:
        token = self._expect("word", what="'within', 'before' or 'after'")
        mode = token.text.lower()
        if mode == "within":
            return When(kind, mode, self._days(), token.position)
        if mode in ("before", "after"):
            date = self._expect("string", what='a date like "2026-01-31"')
            return When(kind, mode, str(date.value), date.position)
        raise SegmentError(token.position, "expected 'within', 'before' or 'after'")

    def _field_condition(self, field: Token) -> Node:
        name = field.text
        if self._keyword("is"):
            self._next()
            negated = self._keyword("not")
            if negated:
                self._next()
            self._expect("word", "set", "'set'")
            return IsSet(name, negated, field.position)
        if self._keyword("contains"):
            self._next()
            value = self._expect("string", what="a text in quotes")
            return Contains(name, str(value.value), field.position)
        negated = self._keyword("not")
        if negated:
            self._next()
        if self._keyword("in"):
            self._next()
            return InSet(name, self._values(), negated, field.position)
        if negated:
            raise SegmentError(self._peek().position, "expected 'in' after 'not'")
        op = self._expect("op", what="an operator (=, !=, <, <=, >, >=, in, contains, is)")
        return Compare(name, op.text, self._value(), field.position)

    def _value(self) -> str | float:
        token = self._next()
        if token.kind in ("string", "number"):
            return token.value
        if token.kind == "word" and token.text.lower() in ("true", "false"):
            return token.text.lower()
        got = repr(token.text) if token.kind != "end" else "the end"
        raise SegmentError(token.position, f'expected a value (a "text" or a number), found {got}')

    def _values(self) -> tuple[str | float, ...]:
        self._expect("punct", "(", "'('")
        values = [self._value()]
        while self._peek().kind == "punct" and self._peek().text == ",":
            self._next()
            values.append(self._value())
        self._expect("punct", ")", "')'")
        if len(values) > 1000:
            raise SegmentError(self._peek().position, "at most 1000 values in a list")
        return tuple(values)


def parse(text: str) -> Node:
    """The syntax tree of a segment expression, or SegmentError with the position."""
    return Parser(text).parse()
