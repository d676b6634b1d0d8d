"""A small evaluator of the Spark SQL conditions tables.yml's `checks` are usually written in.

The offline generator computes the rows its tests expect in Python, so it must know which rows a
named check keeps. It understands comparisons, `AND`/`OR`/`NOT`, `IS [NOT] NULL`, `[NOT] IN (...)`,
`[NOT] BETWEEN ... AND ...`, `[NOT] LIKE '...'`, `+ - * /`, parentheses and a few functions
(`length`, `lower`, `upper`, `trim`, `abs`, `coalesce`), with SQL's three-valued logic (a
comparison with NULL is NULL). Anything else raises `Unsupported`: the generator then says the
table needs a model. It evaluates data, never code: no name is looked up outside the row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|(?P<string>'(?:[^']|'')*')"
    r"|(?P<quoted>`[^`]+`)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<op><=>|<=|>=|<>|!=|==|[=<>(),+\-*/%]))"
)
_COMPARISONS = ("=", "==", "!=", "<>", "<", "<=", ">", ">=")
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "length": lambda v: None if v is None else len(str(v)),
    "lower": lambda v: None if v is None else str(v).lower(),
    "upper": lambda v: None if v is None else str(v).upper(),
    "trim": lambda v: None if v is None else str(v).strip(" "),
    "abs": lambda v: None if v is None else abs(v),
}


class Unsupported(ValueError):
    """The condition uses SQL this evaluator does not know."""


@dataclass(frozen=True)
class Condition:
    """A parsed condition: evaluate it on a row (column -> Python value), get True, False or None."""

    text: str
    tree: tuple[Any, ...]

    def nodes(self) -> Iterator[tuple[Any, ...]]:
        """Every node of the tree, depth first in source order: ("col", name), ("lit", value), ..."""
        pending: list[Any] = [self.tree]
        while pending:
            node = pending.pop()
            if isinstance(node, tuple) and node:
                yield node
                pending.extend(reversed(node[1:]))
            elif isinstance(node, list):
                pending.extend(reversed(node))

    def columns(self) -> set[str]:
        return {node[1] for node in self.nodes() if node[0] == "col"}

    def evaluate(self, row: Mapping[str, Any]) -> bool | None:
        value = _eval(self.tree, row)
        if value is not None and not isinstance(value, bool):
            raise Unsupported(f"{self.text!r} is not a condition (it gives {value!r})")
        return value


def parse(text: str) -> Condition:
    tokens = _tokens(text)
    parser = _Parser(tokens, text)
    tree = parser.expression()
    if parser.position != len(tokens):
        raise Unsupported(f"cannot read {text!r} after {' '.join(t[1] for t in tokens[: parser.position])!r}")
    return Condition(text, tree)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise Unsupported(f"cannot read {text!r} at {text[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.position = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def keyword(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "word" and value.upper() in words:
            self.position += 1
            return True
        return False

    def op(self, *ops: str) -> str | None:
        kind, value = self.peek()
        if kind == "op" and value in ops:
            self.position += 1
            return value
        return None

    def expect_op(self, op: str) -> None:
        if self.op(op) is None:
            raise Unsupported(f"{self.text!r}: expected {op!r} at {self.peek()[1]!r}")

    def expression(self) -> tuple[Any, ...]:
        node = self.conjunction()
        while self.keyword("OR"):
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> tuple[Any, ...]:
        node = self.negation()
        while self.keyword("AND"):
            node = ("and", node, self.negation())
        return node

    def negation(self) -> tuple[Any, ...]:
        if self.keyword("NOT"):
            return ("not", self.negation())
        return self.predicate()

    def predicate(self) -> tuple[Any, ...]:
        left = self.additive()
        if (op := self.op(*_COMPARISONS, "<=>")) is not None:
            if op == "<=>":
                raise Unsupported(f"{self.text!r}: <=> is not supported")
            return ("cmp", op, left, self.additive())
        if self.keyword("IS"):
            negated = self.keyword("NOT")
            if self.keyword("NULL"):
                node: tuple[Any, ...] = ("isnull", left)
            elif self.keyword("TRUE"):
                node = ("istrue", left, True)
            elif self.keyword("FALSE"):
                node = ("istrue", left, False)
            else:
                raise Unsupported(f"{self.text!r}: IS takes NULL, TRUE or FALSE")
            return ("strictnot", node) if negated else node
        negated = self.keyword("NOT")
        if self.keyword("IN"):
            self.expect_op("(")
            items = [self.additive()]
            while self.op(","):
                items.append(self.additive())
            self.expect_op(")")
            node = ("in", left, items)
        elif self.keyword("BETWEEN"):
            low = self.additive()
            if not self.keyword("AND"):
                raise Unsupported(f"{self.text!r}: BETWEEN needs AND")
            node = ("and", ("cmp", ">=", left, low), ("cmp", "<=", left, self.additive()))
        elif self.keyword("LIKE"):
            kind, value = self.peek()
            if kind != "string":
                raise Unsupported(f"{self.text!r}: LIKE takes a string literal")
            self.position += 1
            node = ("like", left, _unquote(value))
        elif negated:
            raise Unsupported(f"{self.text!r}: NOT must come before IN, BETWEEN or LIKE here")
        else:
            return left
        return ("not", node) if negated else node

    def additive(self) -> tuple[Any, ...]:
        node = self.term()
        while (op := self.op("+", "-")) is not None:
            node = ("arith", op, node, self.term())
        return node

    def term(self) -> tuple[Any, ...]:
        node = self.unary()
        while (op := self.op("*", "/", "%")) is not None:
            node = ("arith", op, node, self.unary())
        return node

    def unary(self) -> tuple[Any, ...]:
        if self.op("-"):
            return ("arith", "-", ("lit", 0), self.unary())
        return self.primary()

    def primary(self) -> tuple[Any, ...]:
        kind, value = self.peek()
        self.position += 1
        if kind == "number":
            return ("lit", Decimal(value) if any(c in value for c in ".eE") else int(value))
        if kind == "string":
            return ("lit", _unquote(value))
        if kind == "quoted":
            return ("col", value[1:-1])
        if kind == "op" and value == "(":
            node = self.expression()
            self.expect_op(")")
            return node
        if kind == "word":
            upper = value.upper()
            if upper in ("TRUE", "FALSE"):
                return ("lit", upper == "TRUE")
            if upper == "NULL":
                return ("lit", None)
            if self.peek()[1] == "(":
                self.position += 1
                arguments = [self.expression()]
                while self.op(","):
                    arguments.append(self.expression())
                self.expect_op(")")
                name = value.lower()
                if name != "coalesce" and (name not in _FUNCTIONS or len(arguments) != 1):
                    raise Unsupported(f"{self.text!r}: function {value}() is not supported")
                return ("call", name, arguments)
            if upper in ("AND", "OR", "NOT", "IS", "IN", "BETWEEN", "LIKE", "CASE", "WHEN", "SELECT"):
                raise Unsupported(f"{self.text!r}: unexpected {value}")
            return ("col", value)
        raise Unsupported(f"{self.text!r}: unexpected {value or 'end'}")


def _unquote(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


def _number(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    numbers = (int, float, Decimal)
    if isinstance(left, bool) or isinstance(right, bool):
        if isinstance(left, bool) and isinstance(right, bool):
            return left, right
        raise Unsupported(f"cannot compare {left!r} with {right!r}")
    if isinstance(left, numbers) and isinstance(right, numbers):
        return _number(left), _number(right)
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    raise Unsupported(f"cannot compare {left!r} with {right!r} the way Spark would")


def _eval(node: tuple[Any, ...], row: Mapping[str, Any]) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "col":
        if node[1] not in row:
            raise Unsupported(f"column {node[1]!r} is not in the row")
        return row[node[1]]
    if kind == "and":
        values = [_eval(node[1], row), _eval(node[2], row)]
        return False if False in values else (None if None in values else True)
    if kind == "or":
        values = [_eval(node[1], row), _eval(node[2], row)]
        return True if True in values else (None if None in values else False)
    if kind == "not":
        value = _eval(node[1], row)
        return None if value is None else not value
    if kind == "strictnot":
        return not _eval(node[1], row)
    if kind == "isnull":
        return _eval(node[1], row) is None
    if kind == "istrue":
        return _eval(node[1], row) is node[2]
    if kind == "cmp":
        left, right = _eval(node[2], row), _eval(node[3], row)
        if left is None or right is None:
            return None
        left, right = _comparable(left, right)
        op = node[1]
        return {
            "=": left == right,
            "==": left == right,
            "!=": left != right,
            "<>": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[op]
    if kind == "in":
        value = _eval(node[1], row)
        if value is None:
            return None
        options = [_eval(item, row) for item in node[2]]
        if any(o is not None and _comparable(value, o)[0] == _comparable(value, o)[1] for o in options):
            return True
        return None if None in options else False
    if kind == "like":
        value = _eval(node[1], row)
        if value is None:
            return None
        if not isinstance(value, str):
            raise Unsupported(f"LIKE on {value!r}")
        pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in node[2])
        return re.fullmatch(pattern, value, flags=re.S) is not None
    if kind == "arith":
        left, right = _eval(node[2], row), _eval(node[3], row)
        if left is None or right is None:
            return None
        left, right = _comparable(left, right)
        if isinstance(left, str):
            raise Unsupported("arithmetic on text")
        op = node[1]
        if op in ("/", "%") and right == 0:
            return None
        return {"+": left + right, "-": left - right, "*": left * right, "/": Decimal(left) / Decimal(right)}.get(
            op, left % right if op == "%" else None
        )
    if kind == "call":
        arguments = [_eval(a, row) for a in node[2]]
        if node[1] == "coalesce":
            return next((a for a in arguments if a is not None), None)
        return _FUNCTIONS[node[1]](arguments[0])
    raise Unsupported(f"cannot evaluate {kind}")
