"""The checkov security scan of infra/ is clean, and every check it skips carries a justification beside
the resource (`// checkov:skip=CKV_AZURE_xx: why`).

checkov runs from its own virtual environment (`.venv-checkov`, made by `make test` from
requirements-checkov.txt) because its pins clash with the project's test dependencies.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.infra.bicep_model import INFRA, ROOT

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def test_checkov_passes_with_every_skip_justified() -> None:
    if not CHECKOV.exists():
        pytest.fail(
            f"{CHECKOV.relative_to(ROOT)} is missing: run `make test`, which creates .venv-checkov "
            "from requirements-checkov.txt"
        )
    # --skip-download keeps checkov off the network (no guideline or policy downloads).
    command = [
        str(CHECKOV),
        "--framework",
        "bicep",
        "--skip-download",
        "--compact",
        "-o",
        "json",
        "-d",
        str(INFRA),
    ]
    result = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov printed no report (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]}): {c['check_name']}"
        for c in report["results"].get("failed_checks", [])
    ]
    assert not failed, "checkov findings: fix them, or justify a skip beside the resource:\n" + "\n".join(
        failed
    )
    assert result.returncode == 0, result.stderr
    summary = report["summary"]
    assert summary["parsing_errors"] == 0, "checkov could not parse a Bicep file, so it checked nothing in it"
    assert summary["resource_count"] >= 30 and summary["passed"] >= 20, summary
    for check in report["results"].get("skipped_checks", []):
        reason = check["check_result"].get("suppress_comment", "").strip()
        assert len(reason) >= 20, f"{check['check_id']} on {check['resource']} is skipped without a reason"
