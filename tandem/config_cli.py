"""`tandem config export|history|rollback` and `tandem mappings auto|copy|import|export`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tandem.client import CliError


def _target(args: argparse.Namespace) -> Any:
    from tandem.cli import _stack
    from tandem.config_client import resolve_config_target

    return resolve_config_target(args.url, args.key, _stack())


def _write(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
        print(f"Wrote {output}")
    else:
        print(text, end="" if text.endswith("\n") else "\n")


def cmd_export(args: argparse.Namespace) -> int:
    _write(_target(args).export(args.format), args.output)
    return 0


def render_history(history: dict[str, Any]) -> str:
    from tandem.cli import table

    rows = []
    for v in history["versions"]:
        paths = [c["path"] for c in v["changes"]]
        summary = ", ".join(paths[:3]) + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")
        rows.append(
            [v["number"], str(v["at"])[:19].replace("T", " "), v["author"], v["note"] or "-", summary or "-"]
        )
    head = f"Current version: {history['current']}\n"
    return head + table(["VERSION", "AT (UTC)", "WHO", "NOTE", "CHANGED"], rows, indent="")


def cmd_history(args: argparse.Namespace) -> int:
    history = _target(args).history(args.limit)
    print(json.dumps(history, indent=2) if args.json else render_history(history))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from tandem.config_client import author

    number = _target(args).rollback(args.version, author())
    print(f"Restored version {args.version}'s configuration as version {number}")
    return 0


def _side(value: str) -> tuple[str, str]:
    instance, _, entity = value.partition(":")
    return instance, entity or "workitem"


def cmd_auto(args: argparse.Namespace) -> int:
    from tandem.config_client import author
    from tandem.configfile import dump_document

    target = _target(args)
    proposal = target.auto_map(*_side(args.left), *_side(args.right))
    rules = [
        {k: v for k, v in r.items() if k in ("left", "right", "direction") and v is not None}
        for r in proposal["rules"]
    ]
    if args.apply:
        number = target.put_field_map(args.apply, rules, author(), verify=True)
        print(f"Saved {len(rules)} proposed rule(s) as field map '{args.apply}' (version {number})")
        return 0
    text = (
        "# Proposed by `tandem mappings auto`: keep, remove or add rules, then `tandem mappings import`\n"
        "# this file (or apply it within a configuration file's field_maps).\n"
        + dump_document({"field_maps": {args.name: rules}})
        + "# Unmatched left fields: "
        + (", ".join(proposal["unmatched_left"]) or "none")
        + "\n# Unmatched right fields: "
        + (", ".join(proposal["unmatched_right"]) or "none")
        + "\n"
    )
    _write(text, args.output)
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    from tandem.config_client import author

    number = _target(args).copy_map(args.source, args.target, author())
    print(f"Copied field map '{args.source}' to '{args.target}' (version {number}); the copy is independent")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """XML files: their field maps. YAML/JSON files: their `field_maps` (each added or replaced)."""
    from sync.config import read_yaml
    from tandem.config_client import author

    target = _target(args)
    path = Path(args.file)
    if path.suffix.lower() == ".xml":
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror}", 2) from None
        number = target.import_text(text, "xml", author(), verify=not args.no_verify)
        print(f"Imported the field maps of {path} (version {number})")
        return 0
    document = read_yaml(path)
    maps = (document or {}).get("field_maps") if isinstance(document, dict) else None
    if not isinstance(maps, dict) or not maps:
        raise CliError(f"{path}: no field_maps to import (a mapping of map name to rules)", 2)
    for name, rules in maps.items():
        number = target.put_field_map(name, rules, author(), verify=not args.no_verify)
        print(f"Imported field map '{name}' (version {number})")
    return 0


def cmd_mappings_export(args: argparse.Namespace) -> int:
    from tandem.configfile import dump_document

    rules = _target(args).field_map(args.name)
    _write(dump_document({"field_maps": {args.name: rules}}), args.output)
    return 0


def add_config_actions(config: Any, target: argparse.ArgumentParser) -> None:
    p = config.add_parser("export", parents=[target], help="write the stored configuration (YAML or JSON)")
    p.add_argument("--format", choices=["yaml", "json"], default="yaml")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.set_defaults(handler=cmd_export)
    p = config.add_parser("history", parents=[target], help="list configuration versions: who, when, what")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_history)
    p = config.add_parser("rollback", parents=[target], help="restore version N (as a new version)")
    p.add_argument("version", type=int)
    p.set_defaults(handler=cmd_rollback)


def add_mappings(sub: Any, target: argparse.ArgumentParser) -> None:
    mappings = sub.add_parser("mappings", help="field maps: auto-map, copy, import, export").add_subparsers(
        dest="mappings_command", required=True, metavar="ACTION"
    )
    p = mappings.add_parser(
        "auto", parents=[target], help="propose rules for same-named fields of compatible types"
    )
    p.add_argument("left", help="left instance[:entity] (entity default: workitem)")
    p.add_argument("right", help="right instance[:entity]")
    p.add_argument("--name", default="proposed", help="the map's name in the written proposal")
    p.add_argument("-o", "--output", help="file to write the proposal to (default: stdout)")
    p.add_argument("--apply", metavar="MAP", help="save the proposal as field map MAP instead")
    p.set_defaults(handler=cmd_auto)
    p = mappings.add_parser("copy", parents=[target], help="an independent copy of a field map")
    p.add_argument("source")
    p.add_argument("target")
    p.set_defaults(handler=cmd_copy)
    p = mappings.add_parser(
        "import", parents=[target], help="field maps from a mapping XML file or a YAML/JSON file's field_maps"
    )
    p.add_argument("file")
    p.add_argument("--no-verify", action="store_true", help="skip the check against the systems' field lists")
    p.set_defaults(handler=cmd_import)
    p = mappings.add_parser("export", parents=[target], help="write one field map as YAML")
    p.add_argument("name")
    p.add_argument("-o", "--output")
    p.set_defaults(handler=cmd_mappings_export)
