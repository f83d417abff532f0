"""The `tandem` command: run the local stack and the demo, and operate scenarios (run, status, config,
dead letters) on a local stack or a deployed app.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tandem.client import CliError, Target

DIRECTIONS = ("left_to_right", "right_to_left")
RUN_COUNTERS = (
    "changes",
    "enqueued",
    "created",
    "updated",
    "unchanged",
    "conflicts",
    "warnings",
    "failed",
    "retried",
    "skipped",
)


# -- output ---------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "    ") -> str:
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _when(value: Any) -> str:
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_status(status: dict[str, Any]) -> str:
    """One scenario's status for people: runs with counters, links, conflicts, failures, dead letters."""
    out = [f"Scenario {status['scenario']}"]
    links = dict(status.get("links") or {})
    total = links.pop("total", 0)
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(links.items()))
    out.append(f"  Links: {total}" + (f" ({detail})" if detail else ""))

    runs = status.get("runs") or []
    if runs:
        present = [c for c in RUN_COUNTERS if any(c in (r.get("counts") or {}) for r in runs)]
        rows = [
            [_when(r.get("started_at")), r.get("direction"), r.get("trigger"), r.get("status")]
            + [(r.get("counts") or {}).get(c, 0) for c in present]
            + [_short(r.get("error") or "", 50)]
            for r in runs
        ]
        out.append(f"  Last runs ({len(runs)}):")
        out.append(
            table(
                ["STARTED (UTC)", "DIRECTION", "TRIGGER", "STATUS", *[c.upper() for c in present], "ERROR"],
                rows,
            )
        )
    else:
        out.append("  Last runs: none yet")

    conflicts = status.get("conflicts") or []
    out.append(f"  Conflicts: {len(conflicts)}" + (" (flagged for a person)" if conflicts else ""))
    if conflicts:
        rows = [
            [
                c.get("link_id"),
                c.get("rule"),
                _short(c.get("left_value"), 30),
                _short(c.get("right_value"), 30),
                _when(c.get("at")),
            ]
            for c in conflicts
        ]
        out.append(table(["LINK", "FIELD", "LEFT", "RIGHT", "AT"], rows))

    failures = status.get("failures") or []
    out.append(f"  Failures: {len(failures)}")
    if failures:
        rows = [
            [
                f.get("direction"),
                f.get("source_id"),
                f.get("kind"),
                f.get("attempts"),
                _short(f.get("reason"), 80),
            ]
            for f in failures
        ]
        out.append(table(["DIRECTION", "SOURCE ID", "KIND", "ATTEMPTS", "REASON"], rows))

    notes = status.get("notes") or []
    if notes:
        out.append(f"  Items with notes: {len(notes)}")
        rows = [
            [n.get("pair"), n.get("left_id"), n.get("right_id"), _short(n.get("note") or "", 80)]
            for n in notes
        ]
        out.append(table(["PAIR", "LEFT ID", "RIGHT ID", "NOTE"], rows))

    dead = status.get("dead_letters") or []
    out.append(f"  Dead letters: {len(dead)}")
    if dead:
        rows = [
            [
                d.get("direction"),
                d.get("source_id"),
                d.get("reason"),
                _short(d.get("description") or "", 70),
                _when(d.get("at")),
            ]
            for d in dead
        ]
        out.append(table(["DIRECTION", "SOURCE ID", "REASON", "DESCRIPTION", "AT"], rows))
    return "\n".join(out)


def render_dead_letters(items: Sequence[dict[str, Any]]) -> str:
    if not items:
        return "No dead-lettered messages."
    rows = [
        [
            d.get("queue"),
            d.get("scenario"),
            d.get("direction"),
            d.get("source_id") or d.get("kind", ""),
            d.get("reason"),
            _short(d.get("description") or "", 70),
            _when(d.get("dead_lettered_at")),
            d.get("message_id"),
        ]
        for d in items
    ]
    return table(
        ["QUEUE", "SCENARIO", "DIRECTION", "SOURCE ID", "REASON", "DESCRIPTION", "AT", "MESSAGE ID"],
        rows,
        indent="",
    )


# -- commands -------------------------------------------------------------------------------------


def _stack() -> dict[str, Any] | None:
    from tandem.client import read_stack_file
    from tandem.stack import state_dir

    return read_stack_file(state_dir() / "stack.json")


def _target(args: argparse.Namespace) -> Target:
    from tandem.client import resolve_target

    return resolve_target(args.url, args.key, _stack())


def cmd_serve(args: argparse.Namespace) -> int:
    from tandem.serve import serve

    return serve(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from tandem import demo

    return int(demo.run(args))


def cmd_status(args: argparse.Namespace) -> int:
    target = _target(args)
    names = [args.scenario] if args.scenario else target.scenarios()
    statuses = [target.status(name) for name in names]
    if args.json:
        print(json.dumps(statuses[0] if args.scenario else statuses, indent=2))
    elif not statuses:
        print("No scenarios configured: load some with `tandem config apply FILE`.")
    else:
        print("\n\n".join(render_status(s) for s in statuses))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    target = _target(args)
    items = list(getattr(args, "item", None) or [])
    if args.dry_run:
        return _dry_run(target, args, items)
    if items:
        if not args.direction:
            raise CliError("--item needs --direction: item ids are source ids of one direction", 2)
        return _sync_selected(target, args, items, force=False)
    return _run_and_wait(target, args, {})


def cmd_sync(args: argparse.Namespace) -> int:
    """Sync selected items of one direction now; --force writes the mapped source values even where the
    snapshot says the source did not change. --read / --write: a forced sync from / to Azure DevOps."""
    target = _target(args)
    if args.ado:
        args.force = True  # reading or writing one item now brings its values across whatever changed
    if args.dry_run:
        return _dry_run(target, args, list(args.items))
    return _sync_selected(target, args, list(args.items), force=args.force)


def _dry_run(target: Target, args: argparse.Namespace, items: list[str]) -> int:
    from sync.plan import render_plans, render_preflight

    options = {
        "dry_run": True,
        "items": items,
        "force": getattr(args, "force", False),
        "entity": getattr(args, "entity", None),
        "ado": getattr(args, "ado", None),
    }
    reply = target.run(args.scenario, args.direction, **options)
    plans = reply.get("plans") or []
    checks = reply.get("preflight") or []
    if getattr(args, "json", False):
        if checks:  # stdout stays the plans (the admin API's reply carries both)
            print(render_preflight(checks), file=sys.stderr)
        print(json.dumps(plans, indent=2))
        return 0
    if checks:
        print(render_preflight(checks))  # what would stop items on the target, before the plans
        print()
    print(render_plans(plans))
    return 0


def _sync_selected(target: Target, args: argparse.Namespace, items: list[str], force: bool) -> int:
    options = {"items": items, "force": force, "entity": getattr(args, "entity", None)}
    return _run_and_wait(target, args, {**options, "ado": getattr(args, "ado", None)})


def _run_and_wait(target: Target, args: argparse.Namespace, options: dict[str, Any]) -> int:
    before = len(target.status(args.scenario).get("dead_letters") or []) if target.local else 0
    started = time.time()
    reply = target.run(args.scenario, args.direction, **options)
    enqueued = reply.get("enqueued") or []
    what = f"{len(options['items'])} item(s)" if options.get("items") else "poll"
    if options.get("force"):
        what = "forced sync of " + what
    print(f"{args.scenario}: {what} enqueued for {', '.join(enqueued) or 'no direction'}", file=sys.stderr)
    if not target.local or args.no_wait:
        if not target.local:
            print(
                "The app's workers run it; follow it with `tandem status " + args.scenario + "`.",
                file=sys.stderr,
            )
        return 0
    if not target.wait_idle(args.timeout):
        print(f"still busy after {args.timeout:.0f} s; see `tandem status {args.scenario}`", file=sys.stderr)
        return 1
    status = target.status(args.scenario)
    mine = [
        r
        for r in status.get("runs") or []
        if r.get("trigger") == "manual"
        and r.get("direction") in enqueued
        and _epoch(r.get("started_at")) >= started
    ]
    status["runs"] = mine  # only the runs this command started
    print(render_status(status))
    dead = len(status.get("dead_letters") or []) - before
    if dead > 0:
        print(f"{dead} message(s) of this run were dead-lettered; reasons above", file=sys.stderr)
    return 1 if dead > 0 or any(r.get("status") == "failed" for r in mine) else 0


def cmd_bulk(args: argparse.Namespace) -> int:
    """All or selected items of a scenario in batches, forced, with a progress bar; --match-key links items
    that already match; --dry-run prints the per-field diff it would apply. The job runs on the app's queue:
    this command starts it and follows its progress until it is done."""
    import time
    import uuid

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    target = _target(args)
    request: dict[str, Any] = {"batch_size": args.batch_size, "dry_run": args.dry_run}
    if args.direction:
        request["directions"] = [args.direction]
    if args.items:
        request["items"] = list(args.items)
    if args.entity:
        request["entity"] = args.entity
    if args.match_key:
        request["match_key"] = args.match_key
    job_id = args.job or uuid.uuid4().hex
    job = target.bulk(args.scenario, request, job_id)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} items/s"),
        TimeRemainingColumn(),
    )
    verb = "planning" if args.dry_run else "syncing"
    with Progress(*columns, console=_stderr_console(), disable=args.json) as progress:
        task = progress.add_task(f"{args.scenario}: {verb}", total=None, rate="0")
        while True:
            if job["status"] != "queued":
                progress.update(task, total=job["total"], completed=job["done"], rate=job["rate"])
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.5)
            job = target.bulk_job(job_id) or job
    if job["status"] == "failed":
        raise CliError(f"bulk job {job_id} failed: {job.get('error') or 'see the app log'}", 1)
    if args.dry_run:
        from sync.plan import render_plans, render_preflight

        plans, checks = target.bulk_plans(job_id), job.get("preflight") or []
        if checks:  # before the plans; on stderr when stdout is the plans' JSON
            print(
                render_preflight(checks) + ("" if args.json else "\n"),
                file=sys.stderr if args.json else sys.stdout,
            )
        print(json.dumps(plans, indent=2) if args.json else render_plans(plans))
    elif args.json:
        print(json.dumps(job, indent=2))
    else:
        counts = ", ".join(f"{n} {name}" for name, n in sorted(job.get("counts", {}).items()) if n)
        print(
            f"{args.scenario}: {job['done']} of {job['total']} item(s) done in {job['batches']} batch(es) "
            f"({', '.join(job['directions'])}, {job['rate']} items/s){': ' + counts if counts else ''}; "
            f"details with `tandem status {args.scenario}`"
        )
    return 0


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _epoch(value: Any) -> float:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _load(args: argparse.Namespace) -> Any:
    import os

    from tandem.configfile import load_config

    stack = _stack()
    variables = {**os.environ, **((stack or {}).get("variables") or {})}
    return load_config(args.file, variables)


def cmd_config_check(args: argparse.Namespace) -> int:
    config = _load(args)
    names = ", ".join(s.name for s in config.scenarios) or "none"
    print(
        f"{args.file}: valid — {len(config.connections)} connection(s), "
        f"{len(config.field_maps)} field map(s), scenarios: {names}"
    )
    return 0


def cmd_config_apply(args: argparse.Namespace) -> int:
    config = _load(args)
    target = _target(args)
    names = target.apply_config(config)
    print(f"Applied {args.file} to the {target.description}: scenarios {', '.join(names) or 'none'}")
    return 0


def cmd_deadletters_list(args: argparse.Namespace) -> int:
    items = _target(args).dead_letters(args.queue, args.scenario)
    print(json.dumps(items, indent=2) if args.json else render_dead_letters(items))
    return 0


def cmd_deadletters_replay(args: argparse.Namespace) -> int:
    moved = _target(args).replay(args.queue, args.limit, args.scenario, args.message_ids)
    print(f"{moved} message(s) replayed")
    return 0


def cmd_hooks_ensure(args: argparse.Namespace) -> int:
    reply = _target(args).ensure_hooks(args.scenario)
    rows = [
        (
            c["connection"],
            len(c["created"]),
            len(c["repaired"]),
            len(c["repointed"]),
            "; ".join(c["problems"]),
        )
        for c in reply.get("checks", [])
    ]
    print(table(("connection", "created", "re-enabled", "re-pointed", "problems"), rows))
    return 0 if all(not c["problems"] for c in reply.get("checks", [])) else 1


def render_setup(reply: dict[str, Any], action: str) -> str:
    """A setup report for people: per connection what was created or found, and each problem."""
    out = [f"Scenario {reply.get('scenario')}: " + ("Create fields" if action == "fields" else "Verify")]
    for side in reply.get("sides") or []:
        problems = side.get("problems") or []
        mark = "ok" if not problems else f"{len(problems)} problem(s)"
        out.append(f"  {side.get('side')} ({side.get('connection')}): {mark}")
        if side.get("created"):
            out.append(f"    created: {', '.join(side['created'])}")
        if side.get("existing"):
            out.append(f"    already there: {', '.join(side['existing'])}")
        details = side.get("details") or {}
        if details.get("fields"):
            out.append(f"    fields in place: {', '.join(map(str, details['fields']))}")
        for line in side.get("hooks") or []:
            out.append(f"    service hooks: {line}")
        for note in details.get("notes") or []:
            out.append(f"    note: {note}")
        for warning in side.get("warnings") or []:
            out.append(f"    warning: {warning}")
        for problem in problems:
            out.append(f"    - {problem}")
    return "\n".join(out)


def cmd_setup(args: argparse.Namespace) -> int:
    reply = _target(args).setup(args.scenario, args.setup_command)
    if args.json:
        print(json.dumps(reply, indent=2))
    else:
        print(render_setup(reply, args.setup_command))
    return 0 if all(not s.get("problems") for s in reply.get("sides") or []) else 1


# -- parser ---------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="tandem",
        description="Tandem: two-way sync of Azure DevOps, PWA and Planner. Run the local stack, the demo, "
        "and operate scenarios on a local stack or a deployed function app.",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    target = argparse.ArgumentParser(add_help=False)
    target.add_argument(
        "--url", help="admin API base, e.g. https://<app>.azurewebsites.net/api (env TANDEM_URL)"
    )
    target.add_argument("--key", help="function key for the admin API (env TANDEM_KEY)")

    p = sub.add_parser(
        "serve", help="run the local stack until Ctrl-C; prints one JSON line: URLs, credentials"
    )
    p.add_argument("--config", help="configuration YAML to apply (default: the ADO Server ↔ Services demo)")
    p.add_argument("--port", type=int, default=None, help="port of the functions host (default: a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--data-dir",
        help="keep tables, queued messages and keys in this folder across restarts (default: in memory)",
    )
    p.add_argument(
        "--no-emulators",
        action="store_true",
        help="start no emulators: ${NAME} URLs and TANDEM_SECRET_* credentials come from the environment",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    p.set_defaults(handler=cmd_serve)

    from tandem.demo import add_arguments

    p = sub.add_parser("demo", help="start the local stack, seed data and narrate a sync")
    add_arguments(p)  # declared here, not passed through: argparse.REMAINDER drops leading --options
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("run", parents=[target], help="poll a scenario now (waits for it on a local stack)")
    p.add_argument("scenario")
    p.add_argument("--direction", choices=DIRECTIONS, help="one direction (default: every enabled one)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what the run would change, field by field; change nothing on either system or in Tandem",
    )
    p.add_argument(
        "--item", action="append", metavar="ID", help="only this source item (repeat; needs --direction)"
    )
    p.add_argument("--entity", help="the entity pair of --item (default: the scenario's first)")
    p.add_argument("--json", action="store_true", help="with --dry-run: the plans as JSON")
    p.add_argument("--no-wait", action="store_true", help="return once the poll is enqueued")
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the local queue (default 120)"
    )
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser(
        "sync",
        parents=[target],
        help="sync selected items of one direction now (--force: overwrite the target)",
    )
    p.add_argument("scenario")
    p.add_argument("items", nargs="+", metavar="ITEM", help="source item ids of the direction")
    way = p.add_mutually_exclusive_group(required=True)
    way.add_argument("--direction", choices=DIRECTIONS)
    way.add_argument(
        "--read",
        dest="ado",
        action="store_const",
        const="read",
        help="read the items from Azure DevOps now (ids on the ADO side; forced)",
    )
    way.add_argument(
        "--write",
        dest="ado",
        action="store_const",
        const="write",
        help="write the items to Azure DevOps now (ids on the other side; forced)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write the mapped source values even where Tandem's snapshot says the source did not change",
    )
    p.add_argument("--entity", help="the entity pair of the items (default: the scenario's first)")
    p.add_argument("--dry-run", action="store_true", help="print the plan only; change nothing")
    p.add_argument("--json", action="store_true", help="with --dry-run: the plans as JSON")
    p.add_argument("--no-wait", action="store_true", help="return once the items are enqueued")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the local queue")
    p.set_defaults(handler=cmd_sync)

    p = sub.add_parser(
        "bulk",
        parents=[target],
        help="sync all (or --items) of a scenario in batches, forced, with a progress bar",
    )
    p.add_argument("scenario")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--direction", choices=DIRECTIONS, help="one direction (default: both)")
    way.add_argument("--both", action="store_true", help="every enabled direction (the default)")
    p.add_argument("--items", nargs="+", metavar="ID", help="only these source ids (with --direction)")
    p.add_argument("--entity", help="the entity pair (default: the scenario's first)")
    p.add_argument("--batch-size", type=int, default=100, help="items per batch (1-1000, default 100)")
    p.add_argument(
        "--match-key",
        metavar="FIELD",
        help="a field of the field map: items whose values equal a target item's are linked, not created",
    )
    p.add_argument("--job", metavar="ID", help="the job id (letters and digits; default: a new one)")
    p.add_argument("--dry-run", action="store_true", help="print the per-field diff; change nothing")
    p.add_argument("--json", action="store_true", help="print the job (or the plans) as JSON")
    p.set_defaults(handler=cmd_bulk)

    p = sub.add_parser(
        "status", parents=[target], help="last runs, links, conflicts, failures and dead letters with reasons"
    )
    p.add_argument("scenario", nargs="?", help="one scenario (default: all)")
    p.add_argument("--json", action="store_true", help="print the status documents as JSON")
    p.set_defaults(handler=cmd_status)

    config = sub.add_parser("config", help="check or apply a configuration file").add_subparsers(
        dest="config_command", required=True, metavar="ACTION"
    )
    p = config.add_parser("check", help="validate FILE; errors name the field")
    p.add_argument("file")
    p.set_defaults(handler=cmd_config_check)
    p = config.add_parser("apply", parents=[target], help="validate FILE and store it as the configuration")
    p.add_argument("file")
    p.set_defaults(handler=cmd_config_apply)
    from tandem.config_cli import add_config_actions, add_mappings

    add_config_actions(config, target)
    add_mappings(sub, target)

    hooks = sub.add_parser("hooks", help="service hook subscriptions").add_subparsers(
        dest="hooks_command", required=True, metavar="ACTION"
    )
    p = hooks.add_parser(
        "ensure", parents=[target], help="create, verify and repair SCENARIO's hook subscriptions"
    )
    p.add_argument("scenario")
    p.set_defaults(handler=cmd_hooks_ensure)

    setup = sub.add_parser("setup", help="create and verify what a scenario needs").add_subparsers(
        dest="setup_command", required=True, metavar="ACTION"
    )
    p = setup.add_parser(
        "fields", parents=[target], help="create the custom fields SCENARIO needs on both sides, when missing"
    )
    p.add_argument("scenario")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_setup)
    p = setup.add_parser(
        "verify",
        parents=[target],
        help="check connections, permissions, required fields and service hooks; each with what to do",
    )
    p.add_argument("scenario")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_setup)

    from tandem.pipelines_cli import add_arguments as add_pipelines

    add_pipelines(sub, target)

    dead = sub.add_parser("deadletters", help="list or replay dead-lettered messages").add_subparsers(
        dest="dead_command", required=True, metavar="ACTION"
    )
    p = dead.add_parser("list", parents=[target], help="dead-lettered messages with their reasons")
    p.add_argument("--queue", help="one queue (default: the poll and item queues)")
    p.add_argument("--scenario", help="of one scenario only")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_deadletters_list)
    p = dead.add_parser("replay", parents=[target], help="put dead-lettered messages back on their queue")
    p.add_argument("message_ids", nargs="*", metavar="MESSAGE_ID", help="only these (default: all)")
    p.add_argument("--queue", help="one queue (default: the poll and item queues)")
    p.add_argument("--scenario", help="of one scenario only (without MESSAGE_IDs)")
    p.add_argument("--limit", type=int, default=100, help="at most this many (without MESSAGE_IDs)")
    p.set_defaults(handler=cmd_deadletters_replay)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    from sync.config import ConfigError

    args = parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"tandem {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
