"""Reads the Bicep in infra/ offline: parses every file with pycep and resolves the simple expressions
(parameters, variables, string interpolation, module parameters, loops) the infra tests assert on.

There is no Bicep compiler offline; anything this resolver cannot evaluate (functions, resource
properties, module outputs) comes back as `Unresolved`, never as a guess.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Unresolved:
    """A value only Azure knows at deployment time (or that this small resolver does not evaluate)."""

    text: str


@functools.lru_cache(maxsize=64)
def _parse_text(text: str) -> dict[str, Any]:
    return BicepParser().parse(text=text)


def parse(path: Path) -> dict[str, Any]:
    return _parse_text(path.read_text(encoding="utf-8"))


def evaluate(expr: Any, scope: dict[str, Any]) -> Any:
    """Evaluate a pycep expression tree against `scope` (names of parameters and variables)."""
    if expr is None or isinstance(expr, bool | int | float):
        return expr
    if isinstance(expr, list):
        return [evaluate(x, scope) for x in expr]
    if isinstance(expr, str):
        # pycep gives identifiers and string literals alike as str: a bare name in scope is a reference.
        if _IDENT.fullmatch(expr) and expr in scope:
            return scope[expr]
        if "${" in expr:
            return _interpolate(expr, scope)
        return expr
    if isinstance(expr, dict):
        if set(expr) == {"operator"} and isinstance(expr["operator"], dict) and "type" in expr["operator"]:
            op = expr["operator"]
            if op["type"] == "property_accessor":
                base = evaluate(op["operands"]["operand_1"], scope)
                key = op["operands"]["operand_2"]
                if isinstance(base, dict) and key in base:
                    return base[key]
            return Unresolved(repr(expr))
        if set(expr) == {"function"} and isinstance(expr["function"], dict):
            fn = expr["function"]
            if fn.get("type") == "string":
                value = evaluate(next(iter(fn["parameters"].values())), scope)
                return value if isinstance(value, Unresolved) else str(value)
            return Unresolved(repr(expr))
        return {k: evaluate(v, scope) for k, v in expr.items()}
    return Unresolved(repr(expr))


def _interpolate(text: str, scope: dict[str, Any]) -> str | Unresolved:
    parts: list[str] = []
    pos = 0
    for match in _INTERPOLATION.finditer(text):
        parts.append(text[pos : match.start()])
        inner = match.group(1).strip()
        if not _DOTTED.fullmatch(inner):
            return Unresolved(text)
        value: Any = scope.get(inner.split(".")[0], Unresolved(inner))
        for key in inner.split(".")[1:]:
            value = value.get(key, Unresolved(inner)) if isinstance(value, dict) else Unresolved(inner)
        if isinstance(value, Unresolved | dict | list):
            return Unresolved(text)
        parts.append(str(value))
        pos = match.end()
    parts.append(text[pos:])
    return "".join(parts)


@dataclass
class Resource:
    module: Module
    symbol: str
    type: str
    api_version: str
    existing: bool
    body: dict[str, Any]  # the resource's object, inside any loop or condition
    loop: dict[str, Any] | None = None
    condition: Any = None

    def value(self, *path: str) -> Any:
        """The evaluated property at `path` (e.g. "properties", "siteConfig")."""
        node: Any = self.body
        for key in path:
            if not isinstance(node, dict) or key not in node:
                raise KeyError(f"{self.symbol} has no {'.'.join(path)}")
            node = node[key]
        return evaluate(node, self.module.scope)

    def names(self) -> list[Any]:
        """The deployed name of each instance (one per item for a resource loop)."""
        if self.loop is None:
            return [evaluate(self.body["name"], self.module.scope)]
        detail = self.loop["detail"]
        items = evaluate(detail["array_name"], self.module.scope)
        if not isinstance(items, list):
            return [Unresolved(f"loop over {detail['array_name']}")]
        return [
            evaluate(self.body["name"], {**self.module.scope, detail["item_name"]: item}) for item in items
        ]

    @property
    def parent(self) -> str | None:
        return self.body.get("parent")


@dataclass
class Module:
    name: str  # symbolic name in main.bicep; "main" for main.bicep itself
    path: Path
    tree: dict[str, Any]
    scope: dict[str, Any] = field(default_factory=dict)

    def resources(self, type_: str | None = None, *, existing: bool = False) -> list[Resource]:
        """Resources this module deploys (of `type_`); `existing=True` lists the ones it only references."""
        out = []
        for symbol, raw in self.tree.get("resources", {}).items():
            if (type_ is not None and raw["type"] != type_) or raw["existing"] != existing:
                continue
            config = raw["config"]
            loop = condition = None
            if "loop_type" in config:
                loop, condition, config = config["loop_type"], config.get("condition"), config["config"]
            elif set(config) == {"condition", "config"}:
                condition, config = config["condition"], config["config"]
            out.append(
                Resource(
                    self, symbol, raw["type"], raw["api_version"], raw["existing"], config, loop, condition
                )
            )
        return out

    def resource(self, type_: str, symbol: str | None = None) -> Resource:
        found = [r for r in self.resources(type_) if symbol is None or r.symbol == symbol]
        assert len(found) == 1, f"{self.path.name}: expected one {type_} {symbol or ''}, found {len(found)}"
        return found[0]


def _scope(tree: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Parameters (given by the caller, else their defaults), then variables in declaration order."""
    scope: dict[str, Any] = {}
    for name, param in tree.get("parameters", {}).items():
        if name in given:
            scope[name] = given[name]
        elif param.get("default") is not None:  # pycep gives a parameter without default `None`
            scope[name] = evaluate(param["default"], scope)
        else:
            scope[name] = Unresolved(f"param {name}")
    for name, var in tree.get("variables", {}).items():
        scope[name] = evaluate(var["value"], scope)
    return scope


@dataclass
class Deployment:
    """main.bicep and the modules it composes, with parameters flowing from main into each module."""

    root: Path
    main: Module
    modules: dict[str, Module]

    @classmethod
    def load(cls, infra: Path) -> Deployment:
        tree = parse(infra / "main.bicep")
        main = Module("main", infra / "main.bicep", tree, _scope(tree, {}))
        modules = {}
        for symbol, module in tree.get("modules", {}).items():
            path = (infra / module["detail"]["path"]).resolve()
            given = {k: evaluate(v, main.scope) for k, v in module["config"].get("params", {}).items()}
            sub = parse(path)
            modules[symbol] = Module(symbol, path, sub, _scope(sub, given))
        return cls(infra, main, modules)

    def resources(self, type_: str | None = None) -> list[Resource]:
        found = self.main.resources(type_)
        for module in self.modules.values():
            found.extend(module.resources(type_))
        return found

    def resource(self, type_: str, symbol: str | None = None) -> Resource:
        found = [r for r in self.resources(type_) if symbol is None or r.symbol == symbol]
        assert len(found) == 1, f"expected one {type_} {symbol or ''}, found {[r.symbol for r in found]}"
        return found[0]

    def app_settings(self) -> dict[str, Any]:
        """Name -> evaluated value of every app setting on the function app(s)."""
        settings: dict[str, Any] = {}
        for site in self.resources("Microsoft.Web/sites"):
            site_config = site.value("properties").get("siteConfig", {})
            for entry in site_config.get("appSettings", []):
                settings[entry["name"]] = entry.get("value")
        for config in self.resources("Microsoft.Web/sites/config"):
            if config.names() == ["appsettings"]:
                settings.update(config.value("properties"))
        return settings

    def queues(self) -> dict[str, Resource]:
        out: dict[str, Resource] = {}
        for queue in self.resources("Microsoft.ServiceBus/namespaces/queues"):
            for name in queue.names():
                out[name] = queue
        return out

    def tables(self) -> list[Any]:
        return [
            name
            for table in self.resources("Microsoft.Storage/storageAccounts/tableServices/tables")
            for name in table.names()
        ]


# The settings that locate a service in an identity-based connection `X__<key>` (the host's rule).
_CONNECTION_ENDPOINT_KEYS = (
    "accountName",
    "fullyQualifiedNamespace",
    "serviceUri",
    "blobServiceUri",
    "queueServiceUri",
    "tableServiceUri",
)


def missing_settings(names: list[str], provisioned: dict[str, Any]) -> set[str]:
    """Names the code reads that the Bicep does not set.

    A connection setting `X` (a connection string locally) counts as provisioned when its identity-based
    form `X__accountName` (or another endpoint key) is set: in Azure the host and the app use that
    instead. `X__credential` alone locates nothing, so it does not count.
    """
    return {
        name
        for name in names
        if name not in provisioned
        and not any(f"{name}__{key}" in provisioned for key in _CONNECTION_ENDPOINT_KEYS)
    }
