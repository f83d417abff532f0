"""The `filter` query parameter: parsed with scim2-filter-parser, kept to what identity providers send
(`eq` comparisons joined by `and`), and evaluated against SCIM resources (RFC 7644 §3.4.2.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scim2_filter_parser import ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser

from scim.errors import ScimError


@dataclass(frozen=True)
class Equals:
    """`[uri:]attr[.sub] eq value`."""

    uri: str | None
    attr: str
    sub: str | None
    value: Any

    @property
    def name(self) -> str:
        return f"{self.attr}.{self.sub}" if self.sub else self.attr

    def matches(self, resource: dict[str, Any], core_schema: str) -> bool:
        node: Any = resource
        if self.uri and self.uri.lower() != core_schema.lower():
            node = _get(resource, self.uri) or {}
        found = _get(node, self.attr) if isinstance(node, dict) else None
        values = found if isinstance(found, list) else [found]
        for value in values:
            if self.sub is not None:
                value = _get(value, self.sub) if isinstance(value, dict) else None
            if _equal(value, self.value):
                return True
        return False


def _get(node: dict[str, Any], key: str) -> Any:
    lowered = key.lower()
    return next((v for k, v in node.items() if k.lower() == lowered), None)


def _equal(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return str(actual).lower() == str(wanted).lower()
    if isinstance(actual, str) and isinstance(wanted, str):
        return actual.lower() == wanted.lower()  # attributes filtered on here are not case-exact
    return actual == wanted


def parse_filter(text: str | None) -> list[Equals]:
    """The clauses of `text` (all must hold); a 400 `invalidFilter` for anything but `eq` and `and`."""
    if not text or not text.strip():
        return []
    try:
        tree = SCIMParser().parse(SCIMLexer().tokenize(text))
    except Exception as exc:  # the parser raises its own error types and bare ones on bad input
        raise ScimError(400, f"the filter is not valid: {exc}", "invalidFilter") from None
    if tree is None:
        raise ScimError(400, "the filter is not valid", "invalidFilter")
    clauses: list[Equals] = []
    _collect(tree, clauses)
    return clauses


def _collect(node: Any, out: list[Equals]) -> None:
    if isinstance(node, ast.Filter):
        if node.negated or node.namespace is not None:
            raise ScimError(400, "only 'eq' comparisons joined by 'and' are supported", "invalidFilter")
        _collect(node.expr, out)
    elif isinstance(node, ast.LogExpr) and node.op.lower() == "and":
        _collect(node.expr1, out)
        _collect(node.expr2, out)
    elif isinstance(node, ast.AttrExpr) and node.value.lower() == "eq":
        path = node.attr_path
        sub = path.sub_attr.value if path.sub_attr is not None else None
        out.append(Equals(path.uri, path.attr_name, sub, node.comp_value.value))
    else:
        raise ScimError(400, "only 'eq' comparisons joined by 'and' are supported", "invalidFilter")
