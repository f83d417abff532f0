"""Where an Azure DevOps credential (PAT, bearer token, basic password) may be sent: hosts of the same
deployment only. Services serves its APIs on `dev.azure.com`, `*.dev.azure.com` (vsrm, vsaex, vssps...) and
`*.visualstudio.com`; a Server collection serves every API on its own origin. Loopback is accepted for the
local stack and the emulators. A URL a response or an option names outside these is refused, never called.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from connectors.http import endpoint_problem, is_loopback, origin

SERVICES_SUFFIXES = (".dev.azure.com", ".visualstudio.com")


def infer_deployment(url: str) -> str:
    """Services lives on dev.azure.com or {org}.visualstudio.com; anything else is a Server collection."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return "services" if host == "dev.azure.com" or host.endswith(".visualstudio.com") else "server"


def credential_host_problem(url: str, *, base_url: str, deployment: str) -> str | None:
    """Why the connection at `base_url` must not send its credential to `url`, or None."""
    problem = endpoint_problem(url)
    if problem:
        return problem
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if is_loopback(host):
        return None
    if deployment == "services":
        if host == "dev.azure.com" or host.endswith(SERVICES_SUFFIXES):
            return None
        return (
            f"host {host} is not an Azure DevOps Services host (dev.azure.com, *.dev.azure.com, "
            "*.visualstudio.com): the connection's credential is never sent there"
        )
    if origin(url) == origin(base_url):
        return None
    base_host = (urlsplit(base_url).hostname or "").lower()
    return (
        f"host {host} is not the collection's own origin ({base_host}): an Azure DevOps Server "
        "credential is sent to the collection only"
    )


def hosts_option_problems(url: str, options: dict[str, object]) -> list[str]:
    """The `options.hosts` entries (service -> base URL) the rule above refuses, each naming its field."""
    deployment = str(options.get("deployment") or infer_deployment(url))
    hosts = options.get("hosts") or {}
    if not isinstance(hosts, dict):
        return ["options.hosts: must map a service name (vsaex, vssps, vsrm) to a base URL"]
    problems = []
    for service, value in hosts.items():
        problem = credential_host_problem(str(value), base_url=url, deployment=deployment)
        if problem:
            problems.append(f"options.hosts.{service}: {problem}")
    return problems
