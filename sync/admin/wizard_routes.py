"""Admin API routes the console's set-up wizard needs beside the configuration API: check an instance's
credentials and permissions without saving it, list the projects (or plans) of a saved instance, and store a
secret's value in the app's secret store (Key Vault; the local store under `tandem serve`) without ever
answering, logging or echoing it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.contract import Container, ContainerLister
from state.redact import redact
from state.secrets import SecretAccessError, SecretStoreError
from sync.admin.app import ApiError, ErrorReply, Svc
from sync.config import ConfigError, ConnectionConfig
from sync.services import Services

router = APIRouter(prefix="/api/admin", tags=["wizard"])

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"  # an instance name, as the configuration routes take it
SECRET_NAME = r"^[0-9A-Za-z-]{1,127}$"  # Key Vault's rule for secret names
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorReply} for code in (400, 403, 404, 502)}


# -- models ---------------------------------------------------------------------------------------------


class InstanceCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME, description="the instance's name (where it would be saved)")
    instance: ConnectionConfig


class Problem(BaseModel):
    field: str = Field(description="the request field the problem is about, e.g. instance.auth.secret")
    message: str = Field(description="what is wrong and what to do")


class InstanceCheckReply(BaseModel):
    name: str
    ok: bool
    problems: list[Problem] = Field(default_factory=list)
    containers: list[Container] = Field(
        default_factory=list, description="the projects (or plans) the credentials can see"
    )
    details: dict[str, Any] = Field(default_factory=dict)


class ContainersReply(BaseModel):
    instance: str
    containers: list[Container]


class SecretRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: SecretStr = Field(min_length=1, max_length=16_384, description="the secret; never answered")
    instance: ConnectionConfig | None = Field(
        default=None, description="the instance the secret is for: the secret is bound to its host"
    )


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance: ConnectionConfig | None = Field(
        default=None, description="the instance the secret is for: the secret is bound to its host"
    )


class SecretReply(BaseModel):
    name: str
    stored: bool = True
    hosts: list[str] = Field(default_factory=list, description="the hosts the secret may be sent to")


# -- routes ---------------------------------------------------------------------------------------------


@router.post("/instances/check", response_model=InstanceCheckReply, responses=ERRORS)
def check_instance(request: InstanceCheckRequest, services: Svc) -> InstanceCheckReply:
    """Check an instance without saving it: the secret is in the store (and may go to this host), the
    credentials work, and every permission the connector needs is there; each problem names its field.
    Answers 200 with `ok: false` and the problems when the check fails."""
    name, instance = request.name, request.instance
    reply = InstanceCheckReply(name=name, ok=False)
    secret = instance.auth.secret
    if secret:
        try:
            services.secrets.get(secret)
        except SecretStoreError as exc:
            reply.problems.append(Problem(field="instance.auth.secret", message=redact(str(exc))))
            return reply
    try:
        connector = services.registry.build(name, instance)
    except ConfigError as exc:
        field = "instance.auth.secret" if ".auth.secret" in str(exc) else "instance"
        reply.problems.append(Problem(field=field, message=redact(_plain(str(exc)))))
        return reply
    except (ValueError, TypeError) as exc:  # options the connector's factory refuses
        reply.problems.append(Problem(field="instance.options", message=redact(str(exc))))
        return reply
    try:
        report = connector.check()
        reply.problems += [Problem(field="instance", message=redact(p)) for p in report.problems]
        reply.details = {k: v for k, v in report.details.items() if k in ("projects", "plans", "notes")}
        if not report.problems and isinstance(connector, ContainerLister):
            reply.containers = connector.list_containers()
    except Exception as exc:  # the system's failure is the instance's problem to report, not a 5xx
        reply.problems.append(Problem(field="instance", message=redact(f"{type(exc).__name__}: {exc}")))
    finally:
        _close(connector)
    reply.ok = not reply.problems
    return reply


@router.get("/instances/{name}/containers", response_model=ContainersReply, responses=ERRORS)
def list_containers(name: Annotated[str, Path(pattern=NAME)], services: Svc) -> ContainersReply:
    """The projects (Azure DevOps, PWA) or plans (Planner) a saved instance can see, to pair them."""
    connector = _saved_connector(services, name)
    if not isinstance(connector, ContainerLister):
        raise ApiError(400, f"instance '{name}' cannot list its projects; type the names", "name")
    try:
        containers = connector.list_containers()
    except Exception as exc:  # unreachable or refused: the system's problem, said as such
        raise ApiError(502, redact(f"instance '{name}': {type(exc).__name__}: {exc}"), "name") from None
    return ContainersReply(instance=name, containers=containers)


@router.put("/secrets/{name}", response_model=SecretReply, responses=ERRORS)
def store_secret(
    name: Annotated[str, Path(pattern=SECRET_NAME)], request: SecretRequest, services: Svc
) -> SecretReply:
    """Store a secret's value in the app's secret store (Key Vault in Azure: the app's identity needs Key
    Vault Secrets Officer on it; else put it there yourself). With `instance`, the secret is bound to the
    host it is sent to. The value is never answered, logged or kept anywhere else."""
    value = request.value.get_secret_value()
    if not value.strip():
        raise ApiError(400, "the secret's value is empty", "value")
    return _store(services, name, value, request.instance)


def _store(services: Services, name: str, value: str, instance: ConnectionConfig | None) -> SecretReply:
    hosts = [instance.secret_host] if instance is not None else []
    try:
        services.secrets.set(name, value)
    except SecretAccessError as exc:
        raise ApiError(403, str(exc), "name") from None
    except (SecretStoreError, ValueError) as exc:
        raise ApiError(400, str(exc), "name") from None
    bind = getattr(services.secrets, "bind", None)
    if bind is not None:
        bind(name, hosts)
    services.registry.forget()  # connectors built with the old value pick up the new one
    return SecretReply(name=name, hosts=hosts)


@router.post("/secrets/{name}/generate", response_model=SecretReply, responses=ERRORS)
def generate_secret(
    name: Annotated[str, Path(pattern=SECRET_NAME)], request: GenerateRequest, services: Svc
) -> SecretReply:
    """Make a new random secret (32 URL-safe characters) and store it, e.g. the basic-auth secret service
    hooks carry; its value never leaves the app (it goes to the system when the hooks are created)."""
    import secrets

    return _store(services, name, secrets.token_urlsafe(24), request.instance)


# -- helpers --------------------------------------------------------------------------------------------


def _saved_connector(services: Services, name: str) -> Any:
    if name not in services.config().connections:
        raise ApiError(404, f"no instance named '{name}'", "name")
    try:
        return services.connector(name)
    except ConfigError as exc:
        raise ApiError(400, redact(str(exc)), "name") from None


def _plain(message: str) -> str:
    """A registry message without its configuration path prefix (the reply names the field itself)."""
    head, sep, rest = message.partition(": ")
    return rest if sep and head.startswith("connections.") else message


def _close(connector: Any) -> None:
    close = getattr(connector, "close", None)
    if callable(close):
        close()


__all__ = ["router"]
