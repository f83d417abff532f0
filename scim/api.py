"""The SCIM 2.0 HTTP surface under `/api/scim/v2/`: bearer-token check, routing, query parameters
(`filter`, `startIndex`, `count`, `attributes`, `excludedAttributes`), `application/scim+json` bodies,
SCIM errors, and Azure DevOps failures translated for the identity provider (a 429 keeps its
Retry-After so the provider backs off)."""

from __future__ import annotations

import hmac
import json
import logging
import math
import threading
import time
from typing import Any

import azure.functions as func
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    ETag,
    Filter,
    Meta,
    Patch,
    ResourceType,
    ResponseParameters,
    SchemaExtension,
    ServiceProviderConfig,
    Sort,
)

from connectors.ado.entitlements import EntitlementRefused, EntitlementsClient
from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    ThrottledError,
    TransientError,
    VersionConflict,
)
from scim.errors import ScimError, invalid
from scim.models import DESCRIPTIONS, ENDPOINTS, RESOURCES
from scim.provider import Listing, ScimProvider
from scim.store import ScimStore

log = logging.getLogger("tandem.scim")

SCIM_JSON = "application/scim+json"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
MAX_RESULTS = 200
_DISCOVERY = ("serviceproviderconfig", "resourcetypes", "schemas")
_clients: dict[int, EntitlementsClient] = {}
_clients_lock = threading.Lock()


def _response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> func.HttpResponse:
    text = "" if body is None else json.dumps(body, ensure_ascii=False, default=str)
    out = dict(headers or {})
    if body is not None:
        out["Content-Type"] = SCIM_JSON
    return func.HttpResponse(text, status_code=status, headers=out)


def _error(exc: ScimError) -> func.HttpResponse:
    return _response(exc.status, exc.body(), exc.headers)


def handle(req: func.HttpRequest) -> func.HttpResponse:
    """The one HTTP entry point (route `scim/v2/{*path}`, anonymous: SCIM brings its own bearer token)."""
    from sync import telemetry

    started = time.perf_counter()
    try:
        response = _handle(req)
    except ScimError as exc:
        response = _error(exc)
    except ConnectorError as exc:
        response = _error(from_connector(exc))
    except Exception:
        log.exception("SCIM %s %s failed", req.method, req.route_params.get("path", ""))
        response = _error(
            ScimError(500, "the request failed inside Tandem; the function's log has the details")
        )
    resource = (req.route_params.get("path") or "").split("/")[0]
    telemetry.log_event(
        "scim.request",
        level=logging.INFO if response.status_code < 400 else logging.WARNING,
        method=req.method,
        resource=resource,
        status=response.status_code,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return response


def _unauthorized() -> ScimError:
    # Says nothing about why: no hint whether the token was missing, wrong or not configured.
    return ScimError(401, "Unauthorized", headers={"WWW-Authenticate": "Bearer"})


def _check_token(svc: Any, header: str | None) -> None:
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise _unauthorized()
    try:
        expected = svc.secrets.get(svc.settings.scim_token_secret)
    except LookupError:
        log.warning(
            "SCIM request refused: the secret %s is not in the secret store", svc.settings.scim_token_secret
        )
        raise _unauthorized() from None
    if not expected or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise _unauthorized()


def _base_url(req: func.HttpRequest) -> str:
    url = req.url.split("?", 1)[0]
    marker = url.lower().find("/scim/v2")
    return url[: marker + len("/scim/v2")] if marker >= 0 else url.rstrip("/")


def _provider(svc: Any, base_url: str) -> ScimProvider:
    name = svc.settings.scim_ado_connection
    if not name:
        raise ScimError(
            503, "SCIM provisioning is not configured: set SCIM_ADO_CONNECTION to an azure_devops connection"
        )
    config = svc.config()
    connection = config.connections.get(name)
    if connection is None or connection.type != "azure_devops":
        raise ScimError(503, f"SCIM_ADO_CONNECTION names '{name}', which is not an azure_devops connection")
    connector = svc.connector(name)
    if connector.options.deployment != "services":
        raise ScimError(
            501,
            f"'{name}' is an Azure DevOps Server collection: users and licences are managed in its admin "
            "console (it has no Member Entitlement Management API); SCIM provisions Services organizations",
        )
    with _clients_lock:
        client = _clients.get(id(connector))
        if client is None or client.client is not connector.client:
            client = EntitlementsClient(connector.client)
            _clients[id(connector)] = client
    return ScimProvider(client, ScimStore(svc.tables), base_url)


def _handle(req: func.HttpRequest) -> func.HttpResponse:
    from sync import triggers

    svc = triggers.services()
    _check_token(svc, req.headers.get("Authorization"))
    segments = [s for s in (req.route_params.get("path") or "").split("/") if s]
    method = req.method.upper()
    base = _base_url(req)
    if segments == [".search"]:
        raise ScimError(501, "searching several resource types at once is not supported: POST /Users/.search")
    if not segments:
        raise ScimError(404, "no resource here: see /ServiceProviderConfig, /ResourceTypes and /Schemas")
    head = segments[0].lower()
    if head in _DISCOVERY:
        if method != "GET":
            raise ScimError(405, f"{segments[0]} is read-only")
        return _discovery(head, segments[1:], base)
    kind = next((k for k, endpoint in ENDPOINTS.items() if endpoint[1:].lower() == head), None)
    if kind is None or len(segments) > 2:
        raise ScimError(404, f"no such endpoint: /{'/'.join(segments)}")
    provider = _provider(svc, base)
    params = _response_parameters(req)
    if len(segments) == 1 or segments[1] == ".search":
        if len(segments) == 2 and method == "POST":
            body = _body(req)
            params = _search_parameters(body)
            return _list(
                kind, provider, params, body.get("filter"), body.get("startIndex"), body.get("count")
            )
        if method == "GET" and len(segments) == 1:
            query = req.params
            return _list(
                kind, provider, params, query.get("filter"), query.get("startIndex"), query.get("count")
            )
        if method == "POST" and len(segments) == 1:
            created = _call(kind, "create", provider, _body(req))
            headers = {"Location": created["meta"]["location"]} if "meta" in created else {}
            return _response(201, _render(kind, created, params, Context.RESOURCE_CREATION_RESPONSE), headers)
        raise ScimError(405, f"{method} is not allowed on /{segments[0]}")
    resource_id = segments[1]
    if method == "GET":
        if kind == "Group":
            found = provider.get_group(resource_id, with_members=_wants_members(params))
        else:
            found = _call(kind, "get", provider, resource_id)
        return _response(200, _render(kind, found, params, Context.RESOURCE_QUERY_RESPONSE))
    if method == "PUT":
        replaced = _call(kind, "replace", provider, resource_id, _body(req))
        return _response(200, _render(kind, replaced, params, Context.RESOURCE_REPLACEMENT_RESPONSE))
    if method == "PATCH":
        patched = _call(kind, "patch", provider, resource_id, _body(req))
        return _response(200, _render(kind, patched, params, Context.RESOURCE_PATCH_RESPONSE))
    if method == "DELETE":
        _call(kind, "delete", provider, resource_id)
        return _response(204)
    raise ScimError(405, f"{method} is not allowed on /{segments[0]}/{{id}}")


def _call(kind: str, action: str, provider: ScimProvider, *args: Any) -> Any:
    return getattr(provider, f"{action}_{kind.lower()}")(*args)


def _body(req: func.HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(req.get_body() or b"null")
    except ValueError:
        raise ScimError(400, "the body is not valid JSON", "invalidSyntax") from None
    if not isinstance(body, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    return body


def _split(value: Any) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()] or None


def _response_parameters(req: func.HttpRequest) -> ResponseParameters[Any]:
    return _parameters(req.params.get("attributes"), req.params.get("excludedAttributes"))


def _search_parameters(body: dict[str, Any]) -> ResponseParameters[Any]:
    return _parameters(body.get("attributes"), body.get("excludedAttributes"))


def _parameters(attributes: Any, excluded: Any) -> ResponseParameters[Any]:
    try:
        return ResponseParameters(attributes=_split(attributes), excluded_attributes=_split(excluded))
    except ValueError as exc:
        raise invalid(f"attributes/excludedAttributes: {exc}", "invalidPath") from None


def _wants_members(params: ResponseParameters[Any]) -> bool:
    def named(paths: Any) -> bool:
        return any(str(p).lower().split(":")[-1].split(".")[0] == "members" for p in paths or [])

    if params.attributes:
        return named(params.attributes)
    return not named(params.excluded_attributes)


def _int(value: Any, name: str, default: int | None) -> int | None:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"'{name}' must be an integer, not {value!r}") from None


def _list(
    kind: str,
    provider: ScimProvider,
    params: ResponseParameters[Any],
    filter_text: Any,
    start: Any,
    count: Any,
) -> func.HttpResponse:
    start_index = max(1, _int(start, "startIndex", 1) or 1)
    wanted = _int(count, "count", None)
    wanted = None if wanted is None else min(max(wanted, 0), MAX_RESULTS)
    text = str(filter_text) if filter_text else None
    listing: Listing
    if kind == "User":
        listing = provider.list_users(text, start_index, wanted)
    elif kind == "Group":
        listing = provider.list_groups(text, start_index, wanted, _wants_members(params))
    else:
        listing = provider.list_projects(text, start_index, wanted)
    resources = [_render(kind, r, params, Context.SEARCH_RESPONSE) for r in listing.resources]
    body = {
        "schemas": [LIST_RESPONSE],
        "totalResults": listing.total,
        "startIndex": listing.start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }
    return _response(200, body)


def _render(
    kind: str, resource: dict[str, Any], params: ResponseParameters[Any], ctx: Context
) -> dict[str, Any]:
    model = RESOURCES[kind].model_validate(resource, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return model.model_dump(scim_ctx=ctx, response_parameters=params)


# --- discovery -----------------------------------------------------------------------------------------


def service_provider_config(base: str) -> dict[str, Any]:
    config = ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="Bearer token",
                description="The long-lived secret token configured in the identity provider",
                primary=True,
            )
        ],
        meta=Meta(resource_type="ServiceProviderConfig", location=f"{base}/ServiceProviderConfig"),
    )
    return config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def resource_types(base: str) -> list[dict[str, Any]]:
    out = []
    for kind, model in RESOURCES.items():
        extensions = [
            SchemaExtension(schema_=str(ext.to_schema().id), required=kind == "Group")
            for ext in model.get_extension_models().values()
        ]
        resource_type = ResourceType(
            id=kind,
            name=kind,
            description=DESCRIPTIONS[kind],
            endpoint=ENDPOINTS[kind],
            schema_=str(model.to_schema().id),
            schema_extensions=extensions or None,
            meta=Meta(resource_type="ResourceType", location=f"{base}/ResourceTypes/{kind}"),
        )
        out.append(resource_type.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    return out


def schemas(base: str) -> list[dict[str, Any]]:
    out = []
    for model in RESOURCES.values():
        for schema_model in (model, *model.get_extension_models().values()):
            schema = schema_model.to_schema()
            schema.meta = Meta(resource_type="Schema", location=f"{base}/Schemas/{schema.id}")
            out.append(schema.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    return out


def _discovery(head: str, rest: list[str], base: str) -> func.HttpResponse:
    if head == "serviceproviderconfig":
        if rest:
            raise ScimError(404, "the service provider configuration has no sub-resources")
        return _response(200, service_provider_config(base))
    items = resource_types(base) if head == "resourcetypes" else schemas(base)
    if rest:
        wanted = "/".join(rest).lower()
        found = next((i for i in items if str(i.get("id", "")).lower() == wanted), None)
        if found is None:
            raise ScimError(
                404, f"no {'resource type' if head == 'resourcetypes' else 'schema'} '{'/'.join(rest)}'"
            )
        return _response(200, found)
    body = {
        "schemas": [LIST_RESPONSE],
        "totalResults": len(items),
        "startIndex": 1,
        "itemsPerPage": len(items),
        "Resources": items,
    }
    return _response(200, body)


# --- Azure DevOps failures, as the identity provider should see them ----------------------------------


def from_connector(exc: ConnectorError) -> ScimError:
    if isinstance(exc, ThrottledError) or (isinstance(exc, TransientError) and exc.status == 429):
        wait = exc.retry_after if exc.retry_after is not None else 30.0
        return ScimError(
            429,
            f"Azure DevOps is throttling requests; retry after {math.ceil(wait)} s",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    if isinstance(exc, TransientError):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))} if exc.retry_after else {}
        return ScimError(503, f"Azure DevOps is unavailable: {exc.message}", headers=headers)
    if isinstance(exc, EntitlementRefused):
        text = exc.message
        scim_type = "uniqueness" if "VS403294" in text or "already been used" in text else "invalidValue"
        return ScimError(
            409 if scim_type == "uniqueness" else 400, f"Azure DevOps refused: {text}", scim_type
        )
    if isinstance(exc, VersionConflict):
        return ScimError(409, f"Azure DevOps refused: {exc.message}", "uniqueness")
    if isinstance(exc, NotFoundError):
        return ScimError(404, exc.message)
    if isinstance(exc, AuthError):
        log.error("SCIM: the Azure DevOps connection was refused: %s", exc.message)
        return ScimError(500, "Tandem's Azure DevOps connection was refused; an administrator must fix it")
    return ScimError(400, f"Azure DevOps refused: {exc.message}", "invalidValue")
