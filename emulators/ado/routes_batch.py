"""``POST _apis/wit/$batch``: several work item requests in one call (absent from the 7.1 OpenAPI but
served by the service and used by the .NET client). Each entry runs like its own request as the caller;
the batch is not transactional and every entry answers ``{code, headers, body}`` with the body as a JSON
string. Negative temporary ids are not supported."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request

from emulators.ado import errors
from emulators.ado.app import ApiRoute, Ctx, route

MAX_BATCH_ENTRIES = 200


class BatchEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    method: str
    uri: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None


def _scope(ctx: Ctx, entry: BatchEntry) -> dict[str, Any]:
    parts = urlsplit(entry.uri)
    path = unquote(parts.path)
    base = ctx.env.config.base_path
    if not path.startswith("/"):
        path = "/" + path
    if not path.lower().startswith(base.lower() + "/"):
        path = base + path
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if not any(key.lower() == "api-version" for key in query):
        query["api-version"] = ctx.api_version_text
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in entry.headers.items()]
    return {
        "type": "http",
        "http_version": "1.1",
        "method": entry.method.upper(),
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": urlencode(query).encode(),
        "root_path": "",
        "headers": headers,
        "server": ctx.request.scope.get("server"),
        "client": ctx.request.scope.get("client"),
    }


async def batch(ctx: Ctx) -> dict[str, Any]:
    raw = await ctx.body()
    if not isinstance(raw, list):
        raise errors.invalid_body("The body must be a JSON array of batch requests.")
    try:
        entries = [BatchEntry.model_validate(item) for item in raw]
    except ValidationError as exc:
        raise errors.invalid_body(f"Invalid batch request: {exc.errors()[0]['msg']}") from exc
    if len(entries) > MAX_BATCH_ENTRIES:
        raise errors.bad_request(
            f"The batch contains {len(entries)} requests, which exceeds the limit of {MAX_BATCH_ENTRIES}."
        )
    assert ctx.env.internal is not None
    results = []
    for entry in entries:
        body = b"" if entry.body is None else _encode(entry.body)

        async def receive(payload: bytes = body) -> dict[str, Any]:
            return {"type": "http.request", "body": payload, "more_body": False}

        response = await ctx.env.internal(Request(_scope(ctx, entry), receive), ctx.user)
        content = bytes(response.body).decode("utf-8") if response.body else None
        results.append(
            {
                "code": response.status_code,
                "headers": {"Content-Type": "application/json; charset=utf-8"},
                "body": content,
            }
        )
    return {"count": len(results), "value": results}


def _encode(body: Any) -> bytes:
    return json.dumps(body).encode("utf-8")


ROUTES: list[ApiRoute] = [route("wit.batch", "POST", r"/_apis/wit/\$batch", batch)]
