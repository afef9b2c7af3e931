"""Branch conditions: a tiny safe expression language over flow variables (no eval).

    order.status == "shipped" and not order.late
    visits.order_not_found >= 2
    caller in ["100", "101"]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flows.prompts import lookup

_TOKEN = re.compile(
    r"""\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>"[^"]*"|'[^']*')|(?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)"""
    r"""|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*))"""
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_COMPARE = {"==", "!=", "<", "<=", ">", ">=", "in", "not in"}


class ConditionSyntaxError(ValueError):
    """A branch condition does not parse; the message says what was expected."""


@dataclass(frozen=True)
class Condition:
    """A parsed condition: evaluate it with `holds(variables)`; `paths` are the variables it reads."""

    source: str
    tree: tuple[Any, ...]
    paths: tuple[str, ...]

    def holds(self, variables: Mapping[str, Any]) -> bool:
        """Whether the condition is true for these variables."""
        return bool(_eval(self.tree, variables))


def _tokens(source: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    source = source.rstrip()
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if not m or m.end() == pos:
            raise ConditionSyntaxError(f"cannot read {source[pos:].strip()!r} in condition {source!r}")
        pos = m.end()
        if m.group("num") is not None:
            text = m.group("num")
            out.append(("lit", float(text) if "." in text else int(text)))
        elif m.group("str") is not None:
            out.append(("lit", m.group("str")[1:-1]))
        elif m.group("op") is not None:
            out.append(("op", m.group("op")))
        else:
            name = m.group("name")
            if name in ("true", "false", "null"):
                out.append(("lit", {"true": True, "false": False, "null": None}[name]))
            elif name in _KEYWORDS:
                out.append(("op", name))
            else:
                out.append(("path", name))
    return out


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.toks = _tokens(source)
        self.i = 0
        self.paths: list[str] = []

    def peek(self) -> tuple[str, Any] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take_op(self, *ops: str) -> str | None:
        tok = self.peek()
        if tok and tok[0] == "op" and tok[1] in ops:
            self.i += 1
            return str(tok[1])
        return None

    def fail(self, expected: str) -> ConditionSyntaxError:
        tok = self.peek()
        got = "the end" if tok is None else repr(tok[1])
        return ConditionSyntaxError(f"expected {expected} but found {got} in condition {self.source!r}")

    def parse(self) -> tuple[Any, ...]:
        tree = self.or_expr()
        if self.peek() is not None:
            raise self.fail("'and', 'or' or the end")
        return tree

    def or_expr(self) -> tuple[Any, ...]:
        tree = self.and_expr()
        while self.take_op("or"):
            tree = ("or", tree, self.and_expr())
        return tree

    def and_expr(self) -> tuple[Any, ...]:
        tree = self.not_expr()
        while self.take_op("and"):
            tree = ("and", tree, self.not_expr())
        return tree

    def not_expr(self) -> tuple[Any, ...]:
        if self.take_op("not"):
            return ("not", self.not_expr())
        return self.comparison()

    def comparison(self) -> tuple[Any, ...]:
        left = self.operand()
        op = self.take_op("==", "!=", "<", "<=", ">", ">=", "in")
        if op is None and self.take_op("not"):
            if not self.take_op("in"):
                raise self.fail("'in' after 'not'")
            op = "not in"
        if op is None:
            return left
        return ("cmp", op, left, self.operand())

    def operand(self) -> tuple[Any, ...]:
        tok = self.peek()
        if tok is None:
            raise self.fail("a value or variable")
        if tok[0] == "lit":
            self.i += 1
            return ("lit", tok[1])
        if tok[0] == "path":
            self.i += 1
            self.paths.append(tok[1])
            return ("path", tok[1])
        if self.take_op("("):
            tree = self.or_expr()
            if not self.take_op(")"):
                raise self.fail("')'")
            return tree
        if self.take_op("["):
            items = []
            while not self.take_op("]"):
                item = self.operand()
                if item[0] != "lit":
                    raise self.fail("a literal inside [...]")
                items.append(item[1])
                if not self.take_op(","):
                    if not self.take_op("]"):
                        raise self.fail("',' or ']'")
                    break
            return ("lit", tuple(items))
        raise self.fail("a value or variable")


def parse_condition(source: str) -> Condition:
    """Parse a condition, raising ConditionSyntaxError with what was expected."""
    parser = _Parser(str(source))
    tree = parser.parse()
    return Condition(str(source), tree, tuple(parser.paths))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("in", "not in"):
        pool = right if isinstance(right, tuple | list | str | Mapping) else ()
        found = str(left) in pool if isinstance(pool, str) else left in pool or str(left) in map(str, pool)
        return found if op == "in" else not found
    ln, rn = _number(left), _number(right)
    if ln is not None and rn is not None and (
        isinstance(left, int | float) or isinstance(right, int | float) or op not in ("==", "!=")
    ):
        left, right = ln, rn
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op])
    except TypeError:
        return False


def _eval(tree: tuple[Any, ...], variables: Mapping[str, Any]) -> Any:
    tag = tree[0]
    if tag == "lit":
        return tree[1]
    if tag == "path":
        return lookup(variables, tree[1])
    if tag == "not":
        return not _eval(tree[1], variables)
    if tag == "and":
        return bool(_eval(tree[1], variables)) and bool(_eval(tree[2], variables))
    if tag == "or":
        return bool(_eval(tree[1], variables)) or bool(_eval(tree[2], variables))
    return _compare(tree[1], _eval(tree[2], variables), _eval(tree[3], variables))
