"""PATCH (RFC 7644 §3.5.2) applied to a resource's SCIM representation, accepting both shapes Microsoft
Entra ID sends: with and without its `aadOptscim062020` flag (capitalised ops, ``"False"`` strings,
replace with or without a path, path-less replace with dotted keys or full URN keys, member removal by
``members[value eq "…"]`` or by a `members` value list).

Attributes this service provider does not hold, or that are read-only, are skipped (listed in
`Patched.ignored`): the identity provider keeps sending the attributes of its mapping, and failing every
update for one ADO cannot store would quarantine the whole provisioning job."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from scim2_models import Mutability, Resource

from scim.errors import ScimError, invalid
from scim.filters import parse_filter

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_PATH = re.compile(r"^(?P<attr>[A-Za-z][\w$-]*)(?:\[(?P<filter>.*)\])?(?:\.(?P<sub>[A-Za-z][\w$-]*))?$")


@dataclass(frozen=True)
class AttributeInfo:
    name: str  # as the schema spells it
    multi_valued: bool
    boolean: bool
    writable: bool  # readWrite, writeOnly or immutable


@dataclass(frozen=True)
class SchemaInfo:
    """What PATCH needs to know of one resource type: its schemas and their attributes."""

    core: str
    attributes: dict[str, dict[str, AttributeInfo]]  # schema URN (lower) -> attribute (lower) -> info
    urns: dict[str, str]  # lower -> as spelt

    @classmethod
    def of(cls, model: type[Resource[Any]]) -> SchemaInfo:
        schemas = [model.to_schema()] + [ext.to_schema() for ext in model.get_extension_models().values()]
        attributes: dict[str, dict[str, AttributeInfo]] = {}
        urns: dict[str, str] = {}
        for schema in schemas:
            urn = str(schema.id)
            urns[urn.lower()] = urn
            attributes[urn.lower()] = {
                str(a.name).lower(): AttributeInfo(
                    name=str(a.name),
                    multi_valued=bool(a.multi_valued),
                    boolean=str(getattr(a.type, "value", a.type)) == "boolean",
                    writable=a.mutability != Mutability.read_only,
                )
                for a in schema.attributes or []
            }
        attributes[str(schemas[0].id).lower()]["externalid"] = AttributeInfo("externalId", False, False, True)
        return cls(core=str(schemas[0].id), attributes=attributes, urns=urns)


@dataclass
class Target:
    urn: str | None  # None: a schema this provider does not serve
    attr: str | None  # None: the whole extension object
    filter: str | None = None
    sub: str | None = None
    text: str = ""


@dataclass
class Patched:
    resource: dict[str, Any]
    ignored: list[str] = field(default_factory=list)


def _resolve(info: SchemaInfo, text: str) -> Target:
    raw = text.strip()
    urn = info.core
    rest = raw
    if raw.lower().startswith("urn:"):
        known = sorted(info.urns, key=len, reverse=True)
        match = next((u for u in known if raw.lower() == u or raw.lower().startswith(u + ":")), None)
        if match is None:
            return Target(None, None, text=raw)
        urn = info.urns[match]
        rest = raw[len(match) + 1 :]
        if not rest:
            return Target(urn, None, text=raw)
    parsed = _PATH.match(rest)
    if parsed is None:
        raise ScimError(400, f"the path '{raw}' is not a valid attribute path", "invalidPath")
    return Target(urn, parsed.group("attr"), parsed.group("filter"), parsed.group("sub"), raw)


def _coerce_bool(value: Any, where: str) -> Any:
    if isinstance(value, str):
        if value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"  # Entra sends "False" without aadOptscim062020
        raise invalid(f"'{where}' must be true or false, not {value!r}")
    return value


def _element_matches(element: Any, clauses: list[Any]) -> bool:
    if not isinstance(element, dict):
        return False
    for clause in clauses:
        actual = next((v for k, v in element.items() if k.lower() == clause.attr.lower()), None)
        if str(actual).lower() != str(clause.value).lower():
            return False
    return True


def _same_element(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict) and "value" in a and "value" in b:
        return str(a["value"]).lower() == str(b["value"]).lower()
    return bool(a == b)


def apply_patch(resource: dict[str, Any], body: Any, info: SchemaInfo) -> Patched:
    """A copy of `resource` with the PatchOp `body` applied; raises ScimError for malformed requests."""
    if not isinstance(body, dict):
        raise ScimError(400, "the body must be a PatchOp object", "invalidSyntax")
    schemas = [str(s).lower() for s in body.get("schemas") or []]
    if PATCH_OP.lower() not in schemas:
        raise ScimError(400, f"a PATCH body must list the schema {PATCH_OP}", "invalidSyntax")
    operations = next((v for k, v in body.items() if k.lower() == "operations"), None)
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "a PATCH needs at least one operation in 'Operations'", "invalidSyntax")
    patched = Patched(copy.deepcopy(resource))
    for operation in operations:
        if not isinstance(operation, dict):
            raise ScimError(400, "each operation must be an object", "invalidSyntax")
        op = str(operation.get("op") or "").strip().lower()  # Entra sends "Add", "Replace", "Remove"
        if op not in ("add", "replace", "remove"):
            raise ScimError(400, f"unknown operation {operation.get('op')!r}", "invalidSyntax")
        path = operation.get("path")
        value = operation.get("value")
        if path:
            _apply(patched, info, _resolve(info, str(path)), op, value, value_given="value" in operation)
            continue
        if op == "remove":
            raise ScimError(400, "a remove operation needs a path", "noTarget")
        if not isinstance(value, dict):
            raise ScimError(400, "an operation without a path needs an object value", "invalidValue")
        for key, item in value.items():
            target = _resolve(info, str(key))
            if target.urn is not None and target.attr is None and isinstance(item, dict):
                # {"urn:…:User": {"accountLicenseType": …}}: each attribute of the extension
                for sub_key, sub_item in item.items():
                    _apply(
                        patched,
                        info,
                        _resolve(info, f"{target.urn}:{sub_key}"),
                        op,
                        sub_item,
                        value_given=True,
                    )
            else:
                _apply(patched, info, target, op, item, value_given=True)
    return patched


def _apply(
    patched: Patched, info: SchemaInfo, target: Target, op: str, value: Any, *, value_given: bool
) -> None:
    if target.urn is not None and target.attr is None:
        # the whole extension: {"op": "replace", "path": "urn:…:User", "value": {…}}
        if op == "remove":
            patched.resource.pop(target.urn, None)
        elif isinstance(value, dict):  # sub-attributes not given stay as they are (RFC 7644 §3.5.2.3)
            for key, item in value.items():
                _apply(patched, info, _resolve(info, f"{target.urn}:{key}"), op, item, value_given=True)
        else:
            raise invalid(f"the value of '{target.text}' must be an object")
        return
    if target.urn is None or target.attr is None:
        patched.ignored.append(target.text)
        return
    attributes = info.attributes[target.urn.lower()]
    known = attributes.get(target.attr.lower())
    if known is None or not known.writable:
        patched.ignored.append(target.text)
        return
    core = target.urn.lower() == info.core.lower()
    container = patched.resource if core else patched.resource.setdefault(target.urn, {})
    name = known.name
    if known.boolean:
        value = _coerce_bool(value, name)
    current = container.get(name)
    if target.filter:
        clauses = parse_filter(target.filter)
        elements = list(current or [])
        matching = [e for e in elements if _element_matches(e, clauses)]
        if op == "remove":
            if target.sub:
                for element in matching:
                    element.pop(target.sub, None)
            else:
                elements = [e for e in elements if e not in matching]
        elif target.sub:
            if not matching and op == "add":
                matching = [{c.attr: c.value for c in clauses}]
                elements.extend(matching)
            for element in matching:
                element[target.sub] = value
        else:
            replacement = value if isinstance(value, dict) else {}
            elements = [({**e, **replacement} if e in matching else e) for e in elements]
        container[name] = elements
        return
    if target.sub:
        element = dict(current or {}) if isinstance(current, dict) else {}
        if op == "remove":
            element.pop(target.sub, None)
        else:
            element[target.sub] = value
        container[name] = element
        return
    if op == "remove":
        if known.multi_valued and value_given and value is not None:
            # Entra (without aadOptscim062020): {"op":"Remove","path":"members","value":[{"value":"id"}]}
            gone = value if isinstance(value, list) else [value]
            container[name] = [e for e in current or [] if not any(_same_element(e, g) for g in gone)]
        else:
            container.pop(name, None)
        return
    if known.multi_valued:
        items = value if isinstance(value, list) else [value]
        if op == "add":
            merged = list(current or [])
            for item in items:
                if not any(_same_element(e, item) for e in merged):
                    merged.append(item)
            container[name] = merged
        else:
            container[name] = list(items)
        return
    if isinstance(value, dict) and isinstance(current, dict):
        container[name] = {**current, **value}
    else:
        container[name] = value
