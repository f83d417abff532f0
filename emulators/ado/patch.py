"""JSON Patch documents for work items: parsing the operations and applying them to a draft of the
item's fields and relations (``/fields/…``, ``/relations/-``, ``/relations/{i}[/attributes/…]``,
``test /rev``). Rules that look at the whole item (required fields, states, links) run later in the store."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from emulators.ado import errors
from emulators.ado.identities import AmbiguousIdentity, IdentityDirectory, User
from emulators.ado.processes import FieldDef, FieldRegistry
from emulators.ado.values import coerce_bool, coerce_number, is_empty, parse_date

LINK_TYPES: dict[str, tuple[str, str]] = {
    "System.LinkTypes.Hierarchy-Forward": ("Child", "System.LinkTypes.Hierarchy-Reverse"),
    "System.LinkTypes.Hierarchy-Reverse": ("Parent", "System.LinkTypes.Hierarchy-Forward"),
    "System.LinkTypes.Related": ("Related", "System.LinkTypes.Related"),
    "System.LinkTypes.Dependency-Forward": ("Successor", "System.LinkTypes.Dependency-Reverse"),
    "System.LinkTypes.Dependency-Reverse": ("Predecessor", "System.LinkTypes.Dependency-Forward"),
    "System.LinkTypes.Duplicate-Forward": ("Duplicate", "System.LinkTypes.Duplicate-Reverse"),
    "System.LinkTypes.Duplicate-Reverse": ("Duplicate Of", "System.LinkTypes.Duplicate-Forward"),
}
EXTERNAL_LINK_TYPES: dict[str, str] = {
    "Hyperlink": "Hyperlink",
    "ArtifactLink": "ArtifactLink",
    "AttachedFile": "AttachedFile",
}
_WORK_ITEM_URL = re.compile(r"/_apis/wit/workitems/(\d+)/?$", re.IGNORECASE)
_CANONICAL_REL = {name.lower(): name for name in (*LINK_TYPES, *EXTERNAL_LINK_TYPES)}


class PatchOp(BaseModel):
    """One JSON Patch operation as the Azure DevOps client libraries send it."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    op: str
    path: str
    value: Any = None
    from_: str | None = Field(default=None, alias="from")


def parse_ops(body: Any) -> list[PatchOp]:
    if not isinstance(body, list) or not all(isinstance(entry, dict) for entry in body):
        raise errors.invalid_patch_document()
    try:
        ops = [PatchOp.model_validate(entry) for entry in body]
    except ValidationError as exc:
        raise errors.invalid_patch_document() from exc
    for op in ops:
        op.op = op.op.lower()
        if op.op not in ("add", "replace", "remove", "test", "copy", "move"):
            raise errors.invalid_patch_document()
    return ops


@dataclass(frozen=True)
class Relation:
    rel: str
    target_id: int | None = None  # work item links
    url: str | None = None  # hyperlinks, artifacts, attachments
    attributes: tuple[tuple[str, Any], ...] = ()

    @property
    def is_work_item_link(self) -> bool:
        return self.target_id is not None

    def attrs(self) -> dict[str, Any]:
        return dict(self.attributes)

    def key(self) -> tuple[str, int | str | None]:
        return (self.rel, self.target_id if self.target_id is not None else self.url)


@dataclass
class Draft:
    """The item as the patch leaves it, before rules and system fields are applied."""

    fields: dict[str, Any]
    relations: list[Relation]
    explicit: dict[str, Any] = field(default_factory=dict)  # ref -> value as sent


def coerce_value(definition: FieldDef, value: Any, identities: IdentityDirectory) -> Any:
    """Client value → stored value; None means "clear the field"."""
    if is_empty(value):
        return None
    kind = definition.kind
    try:
        if kind == "identity":
            if not isinstance(value, str):
                raise errors.field_invalid_status(definition.ref, "InvalidType")
            if not value.strip():
                return None
            try:
                user = identities.resolve(value)
            except AmbiguousIdentity as exc:
                raise errors.ambiguous_identity(value, definition.name, definition.ref) from exc
            if user is None:
                raise errors.unknown_identity(value, definition.name, definition.ref)
            return user
        if kind == "integer":
            return coerce_number(value, integer=True)
        if kind == "double":
            return coerce_number(value, integer=False)
        if kind == "dateTime":
            if not isinstance(value, str):
                raise ValueError("dates are strings")
            return parse_date(value)
        if kind == "boolean":
            return coerce_bool(value)
        if isinstance(value, dict | list):
            raise ValueError("not a scalar")
        if isinstance(value, bool):
            return "True" if value else "False"
        return str(value)
    except ValueError as exc:
        raise errors.field_invalid_status(definition.ref, "InvalidType") from exc


def values_equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, User) or isinstance(b, User):
        return isinstance(a, User) and isinstance(b, User) and a.id == b.id
    return bool(a == b)


def _parse_relation(
    value: Any, item_id: int, target_exists: Callable[[int], bool], existing: list[Relation]
) -> Relation:
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("rel"), str)
        or not isinstance(value.get("url"), str)
    ):
        raise errors.invalid_patch_document()
    rel = _CANONICAL_REL.get(value["rel"].strip().lower())
    if rel is None:
        raise errors.link_error(f"VS402360: Link type '{value['rel']}' does not exist.")
    attributes = value.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise errors.invalid_patch_document()
    attrs = tuple(sorted((str(k), v) for k, v in attributes.items() if k not in ("name", "isLocked", "id")))
    if rel in EXTERNAL_LINK_TYPES:
        relation = Relation(rel=rel, url=value["url"], attributes=attrs)
    else:
        match = _WORK_ITEM_URL.search(value["url"])
        if match is None:
            raise errors.link_error(f"VS402325: The link url '{value['url']}' is not a work item url.")
        target = int(match.group(1))
        if target == item_id:
            raise errors.link_error(f"TF201037: Work item {item_id} cannot be linked to itself.")
        if not target_exists(target):
            raise errors.work_item_not_found(target)
        relation = Relation(rel=rel, target_id=target, attributes=attrs)
    if any(r.key() == relation.key() for r in existing):
        raise errors.link_error(
            f"TF201040: The link of type '{rel}' to '{value['url']}' already exists on work item {item_id}."
        )
    return relation


def apply_ops(
    draft: Draft,
    ops: list[PatchOp],
    *,
    registry: FieldRegistry,
    identities: IdentityDirectory,
    target_exists: Callable[[int], bool],
    item_id: int,
    current_rev: int,
) -> None:
    """Mutate `draft` operation by operation; raises AdoError on the first invalid one."""
    for op in ops:
        path = op.path.strip()
        lowered = path.lower()
        if op.op in ("copy", "move"):
            raise errors.invalid_patch_document()
        if lowered in ("/rev", "/id"):
            if op.op != "test":
                raise errors.invalid_patch_document()
            expected = current_rev if lowered == "/rev" else item_id
            try:
                matches = int(op.value) == expected
            except (TypeError, ValueError):
                matches = False
            if not matches:
                raise errors.revision_mismatch() if lowered == "/rev" else errors.test_failed(path)
            continue
        if lowered.startswith("/fields/"):
            _apply_field_op(draft, op, path[len("/fields/") :], registry, identities)
            continue
        if lowered.startswith("/relations/"):
            _apply_relation_op(draft, op, path[len("/relations/") :], item_id, target_exists)
            continue
        if lowered.startswith("/multilinefieldsformat/"):
            continue  # rendering hint (html|markdown) for long-text fields; values are stored as sent
        raise errors.invalid_patch_document()


def _apply_field_op(
    draft: Draft, op: PatchOp, key: str, registry: FieldRegistry, identities: IdentityDirectory
) -> None:
    definition = registry.find(key)
    if definition is None:
        raise errors.field_not_found(key)
    ref = definition.ref
    if op.op == "test":
        expected = coerce_value(definition, op.value, identities)
        if not values_equal(expected, draft.fields.get(ref)):
            raise errors.test_failed(f"/fields/{ref}")
        return
    value = None if op.op == "remove" else coerce_value(definition, op.value, identities)
    draft.explicit[ref] = None if op.op == "remove" else op.value
    if value is None:
        draft.fields.pop(ref, None)
    else:
        draft.fields[ref] = value


def _apply_relation_op(
    draft: Draft, op: PatchOp, rest: str, item_id: int, target_exists: Callable[[int], bool]
) -> None:
    parts = rest.split("/")
    if parts[0] == "-":
        if op.op != "add" or len(parts) != 1:
            raise errors.invalid_patch_document()
        draft.relations.append(_parse_relation(op.value, item_id, target_exists, draft.relations))
        return
    try:
        index = int(parts[0])
    except ValueError as exc:
        raise errors.invalid_patch_document() from exc
    if not 0 <= index < len(draft.relations):
        raise errors.bad_request(
            f"VS402361: Relation index {index} is out of range.", "ArgumentOutOfRangeException"
        )
    if len(parts) == 1:
        if op.op == "remove":
            del draft.relations[index]
        elif op.op in ("add", "replace"):
            others = draft.relations[:index] + draft.relations[index + 1 :]
            draft.relations[index] = _parse_relation(op.value, item_id, target_exists, others)
        elif op.op == "test":
            current = draft.relations[index]
            if not isinstance(op.value, dict) or str(op.value.get("rel", "")).lower() != current.rel.lower():
                raise errors.test_failed(f"/relations/{index}")
        return
    if len(parts) == 3 and parts[1] == "attributes":
        relation = draft.relations[index]
        attrs = relation.attrs()
        if op.op == "remove":
            attrs.pop(parts[2], None)
        elif op.op in ("add", "replace"):
            attrs[parts[2]] = op.value
        else:
            raise errors.invalid_patch_document()
        draft.relations[index] = Relation(
            rel=relation.rel,
            target_id=relation.target_id,
            url=relation.url,
            attributes=tuple(sorted(attrs.items())),
        )
        return
    raise errors.invalid_patch_document()
