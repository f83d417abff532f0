"""Builds a PlannerConnector from a connection's configuration (type `planner`) and the secret store.

Auth kinds (see `connectors.planner.auth`): `oauth_refresh_token` (delegated; `client_id`, `tenant`,
`secret` = the refresh token, rotated back into the store), `entra` with `client_id`, `tenant` and `secret`
(app-only: the client secret), `entra` without a secret (managed identity / `DefaultAzureCredential`;
`client_id` = a user-assigned identity), and `none` (tests).
"""

from __future__ import annotations

from typing import Any

from connectors.planner.auth import Secrets, graph_auth
from connectors.planner.config import PlannerOptions
from connectors.planner.connector import PlannerConnector


def build(name: str, config: Any, secrets: Secrets, **extra: Any) -> PlannerConnector:
    """`config` has `url` (`https://graph.microsoft.com/v1.0`), `auth` and `options` (PlannerOptions).

    `extra` goes to PlannerConnector (e.g. `transport` in tests); `token_transport` to the token client.
    """
    options = PlannerOptions.model_validate(dict(config.options or {}))
    auth = graph_auth(name, config.auth, options, secrets, extra.pop("token_transport", None))
    return PlannerConnector(name, config.url, options, auth=auth, **extra)
