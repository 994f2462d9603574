"""`successCondition`: a tiny, safe expression language over one variable, `result`.

    result < 0.01
    result >= 0.99 and result < 2
    not (result > 1e-3) or result == 0

Grammar (keywords are lower case; whitespace is free):

    expr        := and_expr ("or" and_expr)*
    and_expr    := not_expr ("and" not_expr)*
    not_expr    := "not" not_expr | "(" expr ")" | comparison
    comparison  := "result" OP number | number OP "result"
    OP          := "<" | "<=" | ">" | ">=" | "==" | "!="
    number      := ["-"] digits ["." digits] [("e" | "E") ["+" | "-"] digits]   (also ".5")

`parse_condition(text)` parses once into a small tree of frozen dataclasses; `Condition(value)`
evaluates it. Every problem is a `GateConfigError` naming the text and the 1-based column:
`successCondition "result < ": expected a number at column 10`.

Fail-closed choices: every comparison must involve `result` (a constant such as `1 < 2`
would pass every measurement, so it is refused); chained comparisons (`0 < result < 1`) are
refused with a hint, as their meaning differs between languages; there are no names other
than `result`. NaN is never given to a condition: the analysis counts a NaN measurement as
Failed before evaluating (analysis.py). Infinities compare as IEEE 754 says.

Why a hand-written recursive-descent parser, not `ast.parse(mode="eval")` with whitelisted
node types, nor a library: the whitelist approach inherits Python's grammar, so it must also
refuse `1_000`, `0x10`, `True`, `result < result`, chained and constant comparisons, unary
operators on `result`, and its errors read "invalid syntax" rather than saying what was
expected. No well-kept small library parses exactly this language. The grammar above fits in
about a hundred lines, accepts nothing else, never executes code, and says what it expected.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from azora.gates.errors import GateConfigError

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
KEYWORDS = ("result", "and", "or", "not")
MAX_LENGTH = 200  # also bounds the parser's recursion (about 3 frames per parenthesis)

_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|<|>)"
    r"|(?P<punct>[()\-])"
)


@dataclass(frozen=True)
class Token:
    kind: str  # number | name | op | punct | end
    text: str
    column: int  # 1-based


@dataclass(frozen=True)
class Compare:
    op: str
    left: float | None  # None: `result`
    right: float | None

    def holds(self, result: float) -> bool:
        left = result if self.left is None else self.left
        right = result if self.right is None else self.right
        return OPERATORS[self.op](left, right)


@dataclass(frozen=True)
class Not:
    operand: Node

    def holds(self, result: float) -> bool:
        return not self.operand.holds(result)


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    left: Node
    right: Node

    def holds(self, result: float) -> bool:
        if self.op == "and":
            return self.left.holds(result) and self.right.holds(result)
        return self.left.holds(result) or self.right.holds(result)


Node = Compare | Not | BoolOp


@dataclass(frozen=True)
class Condition:
    """A parsed `successCondition`: call it with a measurement's value."""

    source: str
    tree: Node

    def __call__(self, result: float) -> bool:
        return self.tree.holds(float(result))

    def __str__(self) -> str:
        return self.source


def parse_condition(text: str, key: str = "successCondition") -> Condition:
    """Parse `text` once; `key` names the setting in error messages (e.g. a key path)."""
    if not isinstance(text, str) or not text.strip():
        raise GateConfigError(f"{key} is empty: write a condition such as `result < 0.01`")
    if len(text) > MAX_LENGTH:
        raise GateConfigError(f"{key} is {len(text)} characters long; at most {MAX_LENGTH} are allowed")
    parser = _Parser(text, key)
    tree = parser.expr()
    if parser.peek.kind != "end":
        parser.fail("expected `and`, `or` or the end of the condition")
    return Condition(text, tree)


def _tokenize(text: str, key: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            hint = "; did you mean `==`?" if char == "=" else ""
            raise GateConfigError(f'{key} "{text}": unexpected character {char!r} at column {position + 1}{hint}')
        kind = match.lastgroup or ""
        if kind != "space":
            if kind == "name" and match.group() not in KEYWORDS:
                raise GateConfigError(
                    f'{key} "{text}": unknown name {match.group()!r} at column {position + 1}'
                    " (the only variable is `result`; the keywords are `and`, `or`, `not`)"
                )
            tokens.append(Token(kind, match.group(), position + 1))
        position = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str, key: str) -> None:
        self.text = text
        self.key = key
        self.tokens = _tokenize(text, key)
        self.index = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, message: str, found: bool = True) -> NoReturn:
        """Raise at the next token's column, saying what is there (unless it is the end)."""
        token = self.peek
        tail = f", found `{token.text}`" if found and token.kind != "end" else ""
        raise GateConfigError(f'{self.key} "{self.text}": {message} at column {token.column}{tail}')

    def at(self, kind: str, text: str) -> bool:
        return self.peek.kind == kind and self.peek.text == text

    def expr(self) -> Node:
        node = self.and_expr()
        while self.at("name", "or"):
            self.take()
            node = BoolOp("or", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while self.at("name", "and"):
            self.take()
            node = BoolOp("and", node, self.not_expr())
        return node

    def not_expr(self) -> Node:
        if self.at("name", "not"):
            self.take()
            return Not(self.not_expr())
        if self.at("punct", "("):
            opening = self.take()
            node = self.expr()
            if not self.at("punct", ")"):
                self.fail(f"expected `)` closing the `(` of column {opening.column}")
            self.take()
            return node
        return self.comparison()

    def comparison(self) -> Node:
        left = self.operand("`result`, a number, `not` or `(`", result_ok=True)
        if self.peek.kind != "op":
            self.fail("expected a comparison operator (<, <=, >, >=, ==, !=)")
        op = self.take().text
        if left is None:
            right = self.operand("a number", result_ok=False)
        else:  # a number on the left: the other side must be `result`, or the test is a constant
            right = self.operand("`result` (a comparison of two numbers is constant)", number_ok=False)
        if self.peek.kind == "op":
            self.fail("comparisons cannot be chained (write `a < result and result < b`)", found=False)
        return Compare(op, left, right)

    def operand(self, expected: str, result_ok: bool = True, number_ok: bool = True) -> float | None:
        """`result` (returned as None) or a number, optionally negative."""
        if result_ok and self.at("name", "result"):
            self.take()
            return None
        if number_ok and self.at("punct", "-"):
            self.take()
            if self.peek.kind != "number":
                self.fail("expected a number after `-`")
            return -float(self.take().text)
        if number_ok and self.peek.kind == "number":
            return float(self.take().text)
        self.fail(f"expected {expected}")
