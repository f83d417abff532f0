"""`tandem pipelines yaml`: a classic release definition written as a multi-stage YAML pipeline, with its task
groups as step templates beside it. The definition comes from a JSON file (as the REST API returns it) or is
read, with what it uses, from an Azure DevOps connection of a configuration file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tandem.client import CliError


def add_arguments(sub: Any, target: argparse.ArgumentParser) -> None:
    pipelines = sub.add_parser("pipelines", help="classic release pipelines").add_subparsers(
        dest="pipelines_command", required=True, metavar="ACTION"
    )
    p = pipelines.add_parser(
        "yaml",
        help="write a classic release definition as a multi-stage YAML pipeline (task groups as templates)",
    )
    p.add_argument("definition", help="a definition's id or name (with --from), or a JSON file of one")
    p.add_argument(
        "--from", dest="source", metavar="CONNECTION", help="read it from this connection of --config"
    )
    p.add_argument("--config", help="configuration file naming the connection (placeholders as for `config`)")
    p.add_argument("--project", help="the project holding the definition (with --from)")
    p.add_argument("-o", "--output", help="file to write (task group templates go beside it); default stdout")
    p.set_defaults(handler=cmd_pipelines_yaml)


def _connector(args: argparse.Namespace) -> Any:
    import os

    from connectors.ado.factory import build
    from state.secrets import LocalSecretStore
    from tandem.cli import _stack
    from tandem.configfile import load_config

    if not args.config:
        raise CliError("--from needs --config FILE (where the connection is defined) and --project NAME", 2)
    stack = _stack() or {}
    config = load_config(args.config, {**os.environ, **(stack.get("variables") or {})})
    connection = config.connections.get(args.source)
    if connection is None:
        known = ", ".join(sorted(config.connections)) or "none"
        raise CliError(f"--from {args.source}: no such connection in {args.config} (connections: {known})", 2)
    if connection.type not in ("azure_devops", "azure_devops_pipelines"):
        raise CliError(f"--from {args.source}: a {connection.type} connection has no release pipelines", 2)
    if not args.project:
        args.project = (
            connection.options.get("project") if connection.type == "azure_devops_pipelines" else None
        )
    if not args.project:
        raise CliError("--from needs --project NAME (the project holding the definition)", 2)
    values: dict[str, str] = {}
    credentials = stack.get("credentials") or {}
    for key, url in stack.items():
        # A connection served by the running `tandem serve` uses that emulator's credentials.
        if isinstance(url, str) and connection.url.lower().startswith(url.lower()) and connection.auth.secret:
            pat = (credentials.get(key) or {}).get("pat")
            if pat:
                values[connection.auth.secret] = pat
    from connectors.ado_pipelines.connector import PipelinesConnector

    if connection.type == "azure_devops_pipelines":
        from connectors.ado_pipelines.factory import split_options

        connection = connection.model_copy(update={"options": split_options(dict(connection.options))[1]})
    ado = build(args.source, connection, LocalSecretStore(values))
    return PipelinesConnector(ado, args.project)


def _from_connection(args: argparse.Namespace) -> dict[str, Any]:
    from connectors.errors import ConnectorError

    try:
        return export_parts(_connector(args), args.project, args.definition)
    except ConnectorError as exc:
        raise CliError(str(exc), 1) from None
    except LookupError as exc:
        raise CliError(str(exc.args[0]), 1) from None


def export_parts(pipelines: Any, project: str, definition: str) -> dict[str, Any]:
    """What `export_yaml` needs, read through a `PipelinesConnector`: the definition (by id or name) and the
    task groups, variable groups, queues, task definitions and service connection names it may name.
    LookupError when no definition has that name."""
    client = pipelines.client
    if definition.isdigit():
        body = client.get_definition(project, int(definition))
    else:
        found = pipelines.find_by_natural_key("release_definition", definition)
        if found is None:
            raise LookupError(f"no release definition named {definition!r} in {project}")
        body = found.fields
    groups: dict[str, list[dict[str, Any]]] = {}
    for version in client.list_task_groups(project):
        groups.setdefault(str(version["id"]), []).append(version)
    return {
        "definition": body,
        "task_groups": groups,
        "variable_groups": {int(g["id"]): g for g in client.list_variable_groups(project)},
        "queues": {int(q["id"]): q for q in client.list_queues(project)},
        "task_definitions": client.list_task_definitions(),
        "endpoints": {str(e["id"]): str(e["name"]) for e in client.list_endpoints(project)},
    }


def _from_file(path: str) -> dict[str, Any]:
    try:
        definition = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise CliError(
            f"{path}: no such file (or pass --from CONNECTION to read the definition)", 2
        ) from None
    except ValueError as exc:
        raise CliError(f"{path} is not JSON: {exc}", 2) from None
    if not isinstance(definition, dict) or "environments" not in definition:
        raise CliError(f"{path}: not a release definition (it has no 'environments')", 2)
    return {"definition": definition}


def cmd_pipelines_yaml(args: argparse.Namespace) -> int:
    from connectors.ado_pipelines.yaml_export import export_yaml

    parts = _from_connection(args) if args.source else _from_file(args.definition)
    definition = parts.pop("definition")
    exported = export_yaml(definition, **parts)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(exported.pipeline, encoding="utf-8")
        for name, text in exported.templates.items():
            template = out.parent / name
            template.parent.mkdir(parents=True, exist_ok=True)
            template.write_text(text, encoding="utf-8")
        written = [str(out), *(str(out.parent / n) for n in exported.templates)]
        print(f"Wrote {', '.join(written)}", file=sys.stderr)
    else:
        sys.stdout.write(exported.pipeline)
        for name, text in exported.templates.items():
            sys.stdout.write(f"---\n# {name}\n{text}")
    if exported.notes:
        print(f"{len(exported.notes)} thing(s) to set up by hand are listed at the top.", file=sys.stderr)
    return 0
