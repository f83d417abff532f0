"""WIQL: a real parser and evaluator for the flat-query subset a sync engine uses.

``SELECT <fields> FROM WorkItems [WHERE <condition>] [ORDER BY <field> [ASC|DESC], …] [ASOF '<date>']`` with
``= <> > >= < <=``, ``[NOT] IN (…)``, ``[NOT] UNDER``, ``[NOT] CONTAINS [WORDS]``, ``IS [NOT] EMPTY``,
``AND``/``OR`` with parentheses, field-to-field comparisons and the ``@project``, ``@today[±n]`` and ``@me``
macros. Dates compare at day precision (UTC days) unless the caller passes ``timePrecision=true``; without
it a literal with a time component is the real 400. A top-level ``[System.ChangedDate]`` bound (or an id
list) is served from the store's index, so a no-change poll over 50,000 items costs well under a ms."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from emulators.ado import errors
from emulators.ado.identities import User
from emulators.ado.processes import FieldDef, FieldRegistry
from emulators.ado.store import AdoState, Revision
from emulators.ado.values import coerce_number, has_time_component, parse_date

MAX_QUERY_LENGTH = 32_000
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<field>\[[^\]]*\])
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<macro>@[A-Za-z_]\w*)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<op><=|>=|<>|!=|=|<|>|\(|\)|,|\+|-)
  | (?P<word>[A-Za-z_][\w.]*)
    """,
    re.VERBOSE,
)
_COMPARE = {"=", "<>", "!=", ">", ">=", "<", "<="}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise errors.wiql_syntax("The query contains an unexpected character.", text[pos : pos + 20])
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


# --- AST ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any  # str | int | float
    raw: str


@dataclass(frozen=True)
class Macro:
    name: str  # lower-case, without '@'
    offset: int
    raw: str


@dataclass(frozen=True)
class FieldValue:
    definition: FieldDef
    raw: str


Value = Literal | Macro | FieldValue


@dataclass(frozen=True)
class Condition:
    definition: FieldDef
    op: str  # = <> > >= < <= in under contains containswords isempty
    values: tuple[Value, ...]
    negate: bool
    clause: str  # as written, for error messages


@dataclass(frozen=True)
class BoolOp:
    kind: str  # and | or
    parts: tuple[Node, ...]


Node = Condition | BoolOp


@dataclass
class Query:
    columns: list[FieldDef]
    where: Node | None
    order: list[tuple[FieldDef, bool]]  # (field, descending)
    as_of: str | None = None


@dataclass
class QueryContext:
    project: str | None
    user: User
    now: datetime
    time_precision: bool = False


@dataclass
class QueryOutcome:
    ids: list[int]
    query: Query
    as_of: datetime
    stats: dict[str, Any] = field(default_factory=dict)


# --- parser ---------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, registry: FieldRegistry) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.registry = registry

    def peek(self, offset: int = 0) -> Token | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise errors.wiql_syntax("The query statement ends unexpectedly.", self.text[-20:])
        self.pos += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.upper in words

    def expect_word(self, word: str) -> Token:
        token = self.next()
        if token.kind != "word" or token.upper != word:
            raise errors.wiql_syntax(f"Expecting {word}.", token.text)
        return token

    def expect_op(self, op: str) -> Token:
        token = self.next()
        if token.kind != "op" or token.text != op:
            raise errors.wiql_syntax(f"Expecting '{op}'.", token.text)
        return token

    def parse(self) -> Query:
        if not self.at_word("SELECT"):
            token = self.peek()
            raise errors.wiql_syntax("Expecting SELECT.", token.text if token else "")
        self.next()
        columns = [self.field()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.next()
            columns.append(self.field())
        self.expect_word("FROM")
        source = self.next()
        if source.kind != "word" or source.upper != "WORKITEMS":
            if source.upper in ("WORKITEMLINKS", "WORKITEMLINK"):
                raise errors.wiql_syntax(
                    "Only flat queries (FROM WorkItems) are supported by this server.", source.text
                )
            raise errors.wiql_syntax("Expecting WorkItems after FROM.", source.text)
        where = None
        if self.at_word("WHERE"):
            self.next()
            where = self.expression()
        order: list[tuple[FieldDef, bool]] = []
        as_of = None
        while self.peek() is not None:
            if self.at_word("ORDER"):
                self.next()
                self.expect_word("BY")
                order.append(self.order_item())
                while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                    self.next()
                    order.append(self.order_item())
            elif self.at_word("ASOF"):
                self.next()
                token = self.next()
                if token.kind != "string":
                    raise errors.wiql_syntax("Expecting a date after ASOF.", token.text)
                as_of = _unquote(token.text)
            elif self.at_word("MODE"):
                raise errors.wiql_syntax("MODE applies to link queries only.", self.next().text)
            else:
                raise errors.wiql_syntax("Unexpected text after the query.", self.next().text)
        return Query(columns=columns, where=where, order=order, as_of=as_of)

    def field(self) -> FieldDef:
        token = self.next()
        if token.kind == "field":
            name = token.text[1:-1]
        elif token.kind == "word":
            name = token.text
        else:
            raise errors.wiql_syntax("Expecting a field name.", token.text)
        definition = self.registry.find(name)
        if definition is None:
            raise errors.wiql_unknown_field(token.text if token.kind == "field" else f"[{token.text}]")
        return definition

    def order_item(self) -> tuple[FieldDef, bool]:
        definition = self.field()
        descending = False
        if self.at_word("ASC", "DESC"):
            descending = self.next().upper == "DESC"
        return definition, descending

    def expression(self) -> Node:
        parts = [self.conjunction()]
        while self.at_word("OR"):
            self.next()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def conjunction(self) -> Node:
        parts = [self.term()]
        while self.at_word("AND"):
            self.next()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def term(self) -> Node:
        token = self.peek()
        if token is not None and token.text == "(":
            self.next()
            node = self.expression()
            self.expect_op(")")
            return node
        return self.condition()

    def condition(self) -> Condition:
        start = self.peek()
        definition = self.field()
        negate = False
        if self.at_word("NOT"):
            self.next()
            negate = True
        token = self.next()
        if token.kind == "op" and token.text in _COMPARE and not negate:
            op = "<>" if token.text == "!=" else token.text
            values: tuple[Value, ...] = (self.value(),)
        elif token.kind == "word" and token.upper == "IN":
            self.expect_op("(")
            items = [self.value()]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.next()
                items.append(self.value())
            self.expect_op(")")
            op, values = "in", tuple(items)
        elif token.kind == "word" and token.upper == "UNDER":
            if definition.kind != "treePath":
                raise errors.wiql_syntax(
                    "The UNDER operator can only be used with tree path fields.", token.text
                )
            op, values = "under", (self.value(),)
        elif token.kind == "word" and token.upper == "CONTAINS":
            op = "contains"
            if self.at_word("WORDS"):
                self.next()
                op = "containswords"
            values = (self.value(),)
        elif token.kind == "word" and token.upper == "IS" and not negate:
            if self.at_word("NOT"):
                self.next()
                negate = True
            self.expect_word("EMPTY")
            op, values = "isempty", ()
        elif token.kind == "word" and token.upper == "EVER":
            raise errors.wiql_syntax("The EVER operator is not supported by this emulator.", token.text)
        else:
            raise errors.wiql_syntax("Expecting a comparison operator.", token.text)
        end = self.tokens[self.pos - 1]
        clause = self.text[start.pos : end.pos + len(end.text)] if start else ""
        return Condition(definition, op, values, negate, clause)

    def value(self) -> Value:
        token = self.next()
        if token.kind == "string":
            return Literal(_unquote(token.text), token.text)
        if token.kind == "number":
            number = float(token.text) if "." in token.text else int(token.text)
            return Literal(number, token.text)
        if token.kind == "op" and token.text == "-":
            number_token = self.next()
            if number_token.kind != "number":
                raise errors.wiql_syntax("Expecting a number.", number_token.text)
            return Literal(
                -float(number_token.text) if "." in number_token.text else -int(number_token.text),
                "-" + number_token.text,
            )
        if token.kind == "macro":
            name = token.text[1:].lower()
            offset = 0
            raw = token.text
            following = self.peek()
            if following is not None and following.kind == "op" and following.text in "+-" and following.text:
                sign = self.next().text
                amount = self.next()
                if amount.kind != "number":
                    raise errors.wiql_syntax("Expecting a number after the macro.", amount.text)
                offset = int(float(amount.text)) * (-1 if sign == "-" else 1)
                raw = f"{token.text} {sign} {amount.text}"
            return Macro(name, offset, raw)
        if token.kind == "field":
            definition = self.registry.find(token.text[1:-1])
            if definition is None:
                raise errors.wiql_unknown_field(token.text)
            return FieldValue(definition, token.text)
        if token.kind == "word" and token.upper in ("TRUE", "FALSE"):
            return Literal(token.upper == "TRUE", token.text)
        raise errors.wiql_syntax("Expecting a value.", token.text)


def _unquote(text: str) -> str:
    quote = text[0]
    return text[1:-1].replace(quote * 2, quote)


def parse(text: str, registry: FieldRegistry) -> Query:
    if len(text) > MAX_QUERY_LENGTH:
        raise errors.wiql_syntax(
            f"The query text exceeds the maximum length of {MAX_QUERY_LENGTH} characters.", text[:20]
        )
    return _Parser(text, registry).parse()


# --- compilation ----------------------------------------------------------------------------------

Predicate = Callable[[dict[str, Any]], bool]


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


class _Compiler:
    def __init__(self, ctx: QueryContext) -> None:
        self.ctx = ctx

    def compile(self, node: Node) -> Predicate:
        if isinstance(node, BoolOp):
            parts = [self.compile(part) for part in node.parts]
            if node.kind == "and":
                return lambda f: all(p(f) for p in parts)
            return lambda f: any(p(f) for p in parts)
        predicate = self.condition(node)
        if node.negate:
            return lambda f: not predicate(f)
        return predicate

    # value resolution ------------------------------------------------------------------------------

    def resolve(self, cond: Condition, value: Value) -> Any:
        """Literal/macro → a comparable value for the condition's field (None = empty)."""
        definition = cond.definition
        if isinstance(value, Macro):
            return self.macro(cond, value)
        if isinstance(value, FieldValue):
            raise AssertionError("field values are resolved per item")
        raw = value.value
        if isinstance(raw, str) and raw == "":
            return None
        kind = definition.kind
        if kind == "dateTime":
            if not isinstance(raw, str):
                raise errors.wiql_syntax("Expecting a date value.", value.raw)
            if has_time_component(raw) and not self.ctx.time_precision:
                raise errors.wiql_time_with_date(cond.clause)
            try:
                parsed = parse_date(raw)
            except ValueError as exc:
                raise errors.wiql_syntax("The date value is not valid.", value.raw) from exc
            return parsed if self.ctx.time_precision else parsed.date()
        if kind in ("integer", "double"):
            try:
                return coerce_number(raw, integer=False)
            except ValueError as exc:
                raise errors.wiql_syntax("The value is not a valid number.", value.raw) from exc
        if kind == "boolean":
            return raw if isinstance(raw, bool) else str(raw).lower() == "true"
        return str(raw)

    def macro(self, cond: Condition, value: Macro) -> Any:
        if value.name == "project":
            if self.ctx.project is None:
                raise errors.wiql_syntax(
                    "The @project macro can only be used in the context of a project.", value.raw
                )
            return self.ctx.project
        if value.name == "today":
            if cond.definition.kind != "dateTime":
                raise errors.wiql_syntax("The @today macro can only be used with date fields.", value.raw)
            day = self.ctx.now.date() + timedelta(days=value.offset)
            return _midnight(day) if self.ctx.time_precision else day
        if value.name == "me":
            return self.ctx.user
        raise errors.wiql_syntax(f"The macro @{value.name} is not supported.", value.raw)

    # per-field normalisation -----------------------------------------------------------------------

    def item_value(self, definition: FieldDef, stored: Any) -> Any:
        if stored is None:
            return None
        if definition.kind == "dateTime":
            return stored if self.ctx.time_precision else stored.date()
        if definition.kind in ("integer", "double"):
            return float(stored)
        return stored

    @staticmethod
    def equal(item_value: Any, wanted: Any) -> bool:
        if wanted is None or item_value is None:
            return wanted is None and item_value is None
        if isinstance(item_value, User):
            if isinstance(wanted, User):
                return item_value.id == wanted.id
            text = str(wanted).casefold()
            return text in (
                item_value.display_name.casefold(),
                item_value.unique_name.casefold(),
                item_value.wire_string.casefold(),
                (item_value.email or "").casefold(),
            )
        if isinstance(item_value, str):
            return item_value.casefold() == str(wanted).casefold()
        return bool(item_value == wanted)

    @staticmethod
    def order_key(value: Any) -> Any:
        if isinstance(value, User):
            return value.display_name.casefold()
        return _casefold(value)

    def condition(self, cond: Condition) -> Predicate:
        definition = cond.definition
        ref = definition.ref
        norm = self.item_value
        op = cond.op
        if op == "isempty":
            return lambda f: f.get(ref) is None or f.get(ref) == ""
        if cond.values and isinstance(cond.values[0], FieldValue):
            other = cond.values[0].definition
            return lambda f: _compare(op, norm(definition, f.get(ref)), norm(other, f.get(other.ref)), self)
        wanted = [self.resolve(cond, v) for v in cond.values]
        if op == "in":
            return lambda f: any(self.equal(norm(definition, f.get(ref)), w) for w in wanted)
        if op == "under":
            path = str(wanted[0] or "").casefold()
            prefix = path + "\\"
            return lambda f: (v := str(f.get(ref) or "").casefold()) == path or v.startswith(prefix)
        if op in ("contains", "containswords"):
            needle = str(wanted[0] or "").casefold()
            if ref == "System.Tags":
                return lambda f: needle in {t.strip().casefold() for t in str(f.get(ref) or "").split(";")}
            if op == "containswords":
                pattern = re.compile(r"\b" + re.escape(needle) + r"\b")
                return lambda f: bool(pattern.search(str(f.get(ref) or "").casefold()))
            return lambda f: needle in str(f.get(ref) or "").casefold()
        target = wanted[0]
        return lambda f: _compare(op, norm(definition, f.get(ref)), target, self)


def _compare(op: str, value: Any, wanted: Any, compiler: _Compiler) -> bool:
    if op == "=":
        return compiler.equal(value, wanted)
    if op == "<>":
        return not compiler.equal(value, wanted)
    if value is None or wanted is None:
        return False
    left, right = compiler.order_key(value), compiler.order_key(wanted)
    try:
        if op == ">":
            return bool(left > right)
        if op == ">=":
            return bool(left >= right)
        if op == "<":
            return bool(left < right)
        return bool(left <= right)
    except TypeError:
        return False


# --- planning and execution -----------------------------------------------------------------------


def _changed_date_bounds(cond: Condition, compiler: _Compiler) -> tuple[float | None, float | None]:
    """Conservative [lo, hi] ChangedDate timestamps a top-level condition implies (None = open)."""
    if cond.negate or cond.op not in (">", ">=", "=", "<", "<=") or isinstance(cond.values[0], FieldValue):
        return None, None
    wanted = compiler.resolve(cond, cond.values[0])
    if wanted is None:
        return None, None
    if isinstance(wanted, datetime):
        start = end = wanted.timestamp()
    else:  # a day
        start = _midnight(wanted).timestamp()
        end = _midnight(wanted + timedelta(days=1)).timestamp()
    if cond.op in (">", ">="):
        return start, None
    if cond.op in ("<", "<="):
        return None, end
    return start, end


def _candidate_ids(state: AdoState, where: Node | None, compiler: _Compiler) -> tuple[list[int] | None, str]:
    """Ids worth evaluating, from the ChangedDate index or an id list; None means scan everything."""
    conditions: list[Condition] = []
    if isinstance(where, Condition):
        conditions = [where]
    elif isinstance(where, BoolOp) and where.kind == "and":
        conditions = [part for part in where.parts if isinstance(part, Condition)]
    lo: float | None = None
    hi: float | None = None
    for cond in conditions:
        literals = [v for v in cond.values if isinstance(v, Literal)]
        by_id = cond.definition.ref == "System.Id" and not cond.negate and cond.op in ("=", "in")
        if by_id and len(literals) == len(cond.values):
            ids = []
            for v in literals:
                try:
                    ids.append(int(coerce_number(v.value, integer=True)))
                except ValueError as exc:
                    raise errors.wiql_syntax("The value is not a valid number.", v.raw) from exc
            return sorted(set(ids)), "id"
        if cond.definition.ref == "System.ChangedDate":
            c_lo, c_hi = _changed_date_bounds(cond, compiler)
            if c_lo is not None:
                lo = c_lo if lo is None else max(lo, c_lo)
            if c_hi is not None:
                hi = c_hi if hi is None else min(hi, c_hi)
    if lo is None and hi is None:
        return None, "scan"
    return state.ids_changed_between(lo, hi), "changedDate"


def execute(state: AdoState, text: str, ctx: QueryContext) -> QueryOutcome:
    """Run a query; ids come back in ORDER BY order (id order when there is none)."""
    query = parse(text, state.fields)
    compiler = _Compiler(ctx)
    predicate = compiler.compile(query.where) if query.where is not None else (lambda f: True)
    as_of = ctx.now
    with state.lock:
        rows: list[tuple[int, Revision]] = []
        if query.as_of is not None:
            try:
                as_of = parse_date(query.as_of)
            except ValueError as exc:
                raise errors.wiql_syntax("The ASOF date is not valid.", query.as_of) from exc
            plan = "asOf"
            ts = as_of.timestamp()
            for item in state.items.values():
                if item.deleted is not None:
                    continue
                revision = item.revision_at(ts)
                if revision is not None and predicate(revision.fields):
                    rows.append((item.id, revision))
        else:
            candidates, plan = _candidate_ids(state, query.where, compiler)
            if candidates is None:
                source = [(item.id, item.current) for item in state.items.values() if item.deleted is None]
            else:
                source = []
                for item_id in candidates:
                    item = state.items.get(item_id)
                    if item is not None and item.deleted is None:
                        source.append((item_id, item.current))
            rows = [(item_id, revision) for item_id, revision in source if predicate(revision.fields)]
    rows.sort(key=lambda row: row[0])
    for definition, descending in reversed(query.order):
        ref = definition.ref
        present = [row for row in rows if row[1].fields.get(ref) is not None]
        missing = [row for row in rows if row[1].fields.get(ref) is None]
        present.sort(key=lambda row: compiler.order_key(row[1].fields[ref]), reverse=descending)
        rows = present + missing if descending else missing + present
    return QueryOutcome(ids=[row[0] for row in rows], query=query, as_of=as_of, stats={"plan": plan})
