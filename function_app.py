"""The Azure Functions app: wires triggers to the engine's handlers in `sync.triggers` and nothing else.

Handlers are imported inside each function so that importing this module stays cheap (cold start).
"""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.timer_trigger(arg_name="timer", schedule="%POLL_SCHEDULE%", run_on_startup=False, use_monitor=True)
def poll_timer(timer: func.TimerRequest) -> None:
    from sync import triggers

    triggers.on_timer(timer)


@app.service_bus_queue_trigger(
    arg_name="msg",
    connection="ServiceBusConnection",
    queue_name="%POLL_QUEUE%",
    is_sessions_enabled=True,
    auto_complete_messages=True,
)
def poll_worker(msg: func.ServiceBusMessage) -> None:
    from sync import triggers

    triggers.on_poll_message(msg)


# A batch holds messages of one session: a PWA project's tasks are then written in one publish cycle.
@app.service_bus_queue_trigger(
    arg_name="msgs",
    connection="ServiceBusConnection",
    queue_name="%ITEM_QUEUE%",
    is_sessions_enabled=True,
    auto_complete_messages=True,
    cardinality=func.Cardinality.MANY,
)
def item_worker(msgs: list[func.ServiceBusMessage]) -> None:
    from sync import triggers

    triggers.on_item_messages(msgs)


# Service hooks authenticate with the scenario's basic-auth secret (ADO sends basic auth), not a function key.
@app.route(route="hooks/{system}/{scenario}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def service_hook(req: func.HttpRequest) -> func.HttpResponse:
    from sync import triggers

    return triggers.on_hook(req)


# The admin API (runs, status, hooks, setup, ...): one FastAPI app in sync.admin, behind the function key.
# Its paths: /api/scenarios/..., /api/config/..., /api/admin/..., and its document at /api/openapi.json.
async def _admin(req: func.HttpRequest) -> func.HttpResponse:
    from sync import triggers

    return await triggers.on_admin(req)


@app.route(route="scenarios/{*path}", auth_level=func.AuthLevel.FUNCTION)
async def admin_scenarios(req: func.HttpRequest) -> func.HttpResponse:
    return await _admin(req)


@app.route(route="admin/{*path}", auth_level=func.AuthLevel.FUNCTION)
async def admin_api(req: func.HttpRequest) -> func.HttpResponse:
    return await _admin(req)


@app.route(route="config/{*path}", auth_level=func.AuthLevel.FUNCTION)
async def admin_config(req: func.HttpRequest) -> func.HttpResponse:
    return await _admin(req)


@app.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def admin_openapi(req: func.HttpRequest) -> func.HttpResponse:
    return await _admin(req)


# SCIM 2.0 provisioning (users, groups, projects into Azure DevOps): the identity provider sends the bearer
# token checked in `scim.api`, not a function key.
@app.route(
    route="scim/v2/{*path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
def scim(req: func.HttpRequest) -> func.HttpResponse:
    from scim import api

    return api.handle(req)


# The admin console's static pages: they carry no data (every data call goes to the admin API with the key).
@app.route(route="console/{*path}", methods=["GET", "HEAD"], auth_level=func.AuthLevel.ANONYMOUS)
def console(req: func.HttpRequest) -> func.HttpResponse:
    from sync import console as files

    return files.handle(req)


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse('{"status":"ok"}', mimetype="application/json")
