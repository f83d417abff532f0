"""OData v3 query options as PWA applies them: a ``$filter`` parser/evaluator (comparisons, and/or/not,
``guid'…'``/``datetime'…'`` literals, a few string functions), ``$orderby``, and ``$select``/``$expand``
trees. Rows are dicts of property name → value (PS JSON values or typed ProjectData values)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from emulators.pwa import errors

Row = dict[str, Any]
Predicate = Callable[[Row], bool]
Expr = Callable[[Row], Any]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<prefixed>(?:guid|datetime|datetimeoffset|time|X|binary)'(?:[^']|'')*')
      | (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDlLfF]?)
      | (?P<punct>[(),])
      | (?P<name>[A-Za-z_][A-Za-z0-9_./]*)
    )""",
    re.VERBOSE,
)
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCTIONS = {"substringof", "startswith", "endswith", "tolower", "toupper", "length", "trim"}


@dataclass(frozen=True)
class Guid:
    value: str


@dataclass
class _Tok:
    kind: str
    text: str


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise errors.bad_request(f"Syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup or ""
        tokens.append(_Tok(kind, match.group(kind)))
        pos = match.end()
    return tokens


def _literal(tok: _Tok) -> Any:
    if tok.kind == "string":
        return tok.text[1:-1].replace("''", "'")
    if tok.kind == "number":
        text = tok.text.rstrip("mMdDlLfF")
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        return float(text)
    prefix, _, rest = tok.text.partition("'")
    body = rest[:-1].replace("''", "'")
    prefix = prefix.lower()
    if prefix == "guid":
        return Guid(body.lower())
    if prefix in ("datetime", "datetimeoffset"):
        try:
            parsed = datetime.fromisoformat(body.replace("Z", "+00:00"))
        except ValueError as exc:
            raise errors.bad_request(f"Unrecognized '{prefix}' literal '{tok.text}'.") from exc
        return parsed.replace(tzinfo=None) if prefix == "datetime" else parsed
    return body


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise errors.bad_request(f"Unexpected end of expression in '{self.text}'.")
        self.pos += 1
        return tok

    def keyword(self, *words: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok.kind == "name" and tok.text.lower() in words:
            self.pos += 1
            return tok.text.lower()
        return None

    def expect(self, text: str) -> None:
        tok = self.next()
        if tok.text != text:
            raise errors.bad_request(f"Expected '{text}' but found '{tok.text}' in '{self.text}'.")

    def parse(self) -> Expr:
        expr = self.or_expr()
        if self.peek() is not None:
            raise errors.bad_request(f"Syntax error near '{self.peek().text}' in '{self.text}'.")  # type: ignore[union-attr]
        return expr

    def or_expr(self) -> Expr:
        left = self.and_expr()
        while self.keyword("or"):
            right = self.and_expr()
            left = (lambda a, b: lambda row: bool(a(row)) or bool(b(row)))(left, right)
        return left

    def and_expr(self) -> Expr:
        left = self.not_expr()
        while self.keyword("and"):
            right = self.not_expr()
            left = (lambda a, b: lambda row: bool(a(row)) and bool(b(row)))(left, right)
        return left

    def not_expr(self) -> Expr:
        if self.keyword("not"):
            inner = self.not_expr()
            return lambda row: not inner(row)
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.primary()
        op = self.keyword(*_COMPARE)
        if op is None:
            return left
        right = self.primary()
        return lambda row: compare(op, left(row), right(row))

    def primary(self) -> Expr:
        tok = self.next()
        if tok.text == "(":
            inner = self.or_expr()
            self.expect(")")
            return inner
        if tok.kind in ("string", "number", "prefixed"):
            value = _literal(tok)
            return lambda row: value
        if tok.kind == "name":
            lowered = tok.text.lower()
            if lowered in ("true", "false"):
                flag = lowered == "true"
                return lambda row: flag
            if lowered == "null":
                return lambda row: None
            nxt = self.peek()
            if nxt is not None and nxt.text == "(" and lowered in _FUNCTIONS:
                self.next()
                args = [self.or_expr()]
                while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                    self.next()
                    args.append(self.or_expr())
                self.expect(")")
                return _function(lowered, args)
            name = tok.text
            return lambda row: _property(row, name)
        raise errors.bad_request(f"Syntax error near '{tok.text}' in '{self.text}'.")


def _property(row: Row, name: str) -> Any:
    if name in row:
        return row[name]
    if name.lower().startswith("custom_x005f_"):
        return None  # an unset custom field value on an open type
    raise errors.bad_request(f"Could not find a property named '{name}' on the type.")


def _function(name: str, args: list[Expr]) -> Expr:
    def text(value: Any) -> str:
        return "" if value is None else str(value)

    if name == "substringof":
        return lambda row: text(args[0](row)) in text(args[1](row))
    if name == "startswith":
        return lambda row: text(args[0](row)).startswith(text(args[1](row)))
    if name == "endswith":
        return lambda row: text(args[0](row)).endswith(text(args[1](row)))
    if name == "tolower":
        return lambda row: text(args[0](row)).lower()
    if name == "toupper":
        return lambda row: text(args[0](row)).upper()
    if name == "trim":
        return lambda row: text(args[0](row)).strip()
    return lambda row: len(text(args[0](row)))


def _coerce(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(a, Guid) or isinstance(b, Guid):
        return _guid_text(a), _guid_text(b)
    if isinstance(a, datetime) or isinstance(b, datetime):
        return _as_datetime(a), _as_datetime(b)
    if isinstance(a, Decimal | int | float) and not isinstance(a, bool) and isinstance(b, str):
        return a, _as_number(b)
    if isinstance(b, Decimal | int | float) and not isinstance(b, bool) and isinstance(a, str):
        return _as_number(a), b
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return _as_number(a), _as_number(b)
    return a, b


def _guid_text(value: Any) -> Any:
    if isinstance(value, Guid):
        return value.value
    return value.lower() if isinstance(value, str) else value


def _as_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo is not None else value
    if isinstance(value, str):
        match = re.fullmatch(r"/Date\((-?\d+)\)/", value)
        if match:
            from datetime import timedelta

            return datetime(1970, 1, 1) + timedelta(milliseconds=int(match.group(1)))
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
        except ValueError:
            return value
    return value


def _as_number(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return value


def compare(op: str, left: Any, right: Any) -> bool:
    a, b = _coerce(left, right)
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if a is None or b is None:
        return False
    try:
        if op == "gt":
            return bool(a > b)
        if op == "ge":
            return bool(a >= b)
        if op == "lt":
            return bool(a < b)
        return bool(a <= b)
    except TypeError as exc:
        raise errors.bad_request(f"Operator '{op}' cannot compare {left!r} and {right!r}.") from exc


def parse_filter(text: str | None) -> Predicate | None:
    if not text or not text.strip():
        return None
    expr = _Parser(text).parse()
    return lambda row: bool(expr(row))


def order_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float | Decimal):
        return (1, Decimal(str(value)))
    if isinstance(value, datetime):
        return (2, value)
    return (3, str(value))


def parse_orderby(text: str | None) -> list[tuple[str, bool]]:
    """``"TaskModifiedDate desc, TaskId"`` → [("TaskModifiedDate", True), ("TaskId", False)]."""
    if not text or not text.strip():
        return []
    out = []
    for part in text.split(","):
        bits = part.split()
        if not bits or len(bits) > 2 or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
            raise errors.bad_request(f"Invalid $orderby clause '{part.strip()}'.")
        out.append((bits[0], len(bits) == 2 and bits[1].lower() == "desc"))
    return out


def sort_rows(rows: list[Row], orderby: list[tuple[str, bool]]) -> list[Row]:
    for name, desc in reversed(orderby):
        for row in rows:
            if name not in row:
                raise errors.bad_request(f"Could not find a property named '{name}' on the type.")
        rows = sorted(rows, key=lambda r, n=name: order_key(r.get(n)), reverse=desc)  # type: ignore[misc]
    return rows


Tree = dict[str, "Tree"]


def parse_paths(text: str | None) -> Tree | None:
    """``"Id,Resource/Email,Task"`` → {"Id": {}, "Resource": {"Email": {}}, "Task": {}}; None if absent."""
    if text is None or not text.strip():
        return None
    tree: Tree = {}
    for part in text.split(","):
        path = part.strip()
        if not path:
            continue
        node = tree
        for segment in path.split("/"):
            node = node.setdefault(segment, {})
    return tree


def parse_int(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError as exc:
        raise errors.bad_request(f"Invalid value '{text}' for {name}.") from exc
    if value < 0:
        raise errors.bad_request(f"{name} must not be negative.")
    return value
