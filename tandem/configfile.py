"""Configuration files for the command line: YAML with `${NAME}` placeholders, validated by `sync.config`.

Placeholders let one file name URLs known only at run time (the local stack's emulator ports) or per
environment; an undefined one is an error that names the field it sits in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from sync.config import ConfigError, TandemConfig, parse_config, read_yaml

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEMO_CONFIG = Path(__file__).resolve().parent / "demo_config.yaml"


def placeholders(data: Any) -> set[str]:
    """Every `${NAME}` used in a parsed document."""
    found: set[str] = set()
    if isinstance(data, str):
        found.update(_PLACEHOLDER.findall(data))
    elif isinstance(data, dict):
        for value in data.values():
            found |= placeholders(value)
    elif isinstance(data, list):
        for value in data:
            found |= placeholders(value)
    return found


def substitute(data: Any, variables: Mapping[str, str], path: str = "") -> tuple[Any, list[str]]:
    """`data` with placeholders replaced, and one problem per undefined placeholder (with its field path)."""
    problems: list[str] = []
    if isinstance(data, str):

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                problems.append(f"  {path or '(top level)'}: ${{{name}}} is not defined")
                return match.group(0)
            return variables[name]

        return _PLACEHOLDER.sub(value, data), problems
    if isinstance(data, dict):
        out: dict[Any, Any] = {}
        for key, item in data.items():
            out[key], more = substitute(item, variables, f"{path}.{key}" if path else str(key))
            problems += more
        return out, problems
    if isinstance(data, list):
        items = []
        for i, item in enumerate(data):
            new, more = substitute(item, variables, f"{path}.{i}" if path else str(i))
            items.append(new)
            problems += more
        return items, problems
    return data, problems


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_document(document: Any) -> str:
    """YAML for a configuration document that `read_document` accepts: shared objects written out, no
    aliases (configuration files refuse them)."""
    return yaml.dump(document, Dumper=_NoAliasDumper, sort_keys=False)


def read_document(path: str | Path) -> Any:
    """The parsed file, before placeholders are substituted: aliases are refused here (an alias bomb never
    expands) and the size is capped."""
    return read_yaml(path)


def load_config(path: str | Path, variables: Mapping[str, str] | None = None) -> TandemConfig:
    """Read, substitute and validate; ConfigError lists each problem with the path of its field."""
    document, problems = substitute(read_document(path), variables or {})
    if problems:
        raise ConfigError(
            "Invalid configuration:\n"
            + "\n".join(problems)
            + "\n  (set them as environment variables, or apply the file to a running `tandem serve`, "
            "which defines its emulators' URLs)"
        )
    return parse_config(document)
