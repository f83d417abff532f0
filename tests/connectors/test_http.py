"""Shared HTTP plumbing: error mapping, Retry-After and pacing, redaction, auth, paging, call counting."""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    PermanentError,
    ThrottledError,
    TransientError,
    VersionConflict,
)
from connectors.http import (
    BearerAuth,
    ContinuationTokenPaginator,
    HttpClient,
    NextLinkPaginator,
    PatAuth,
    Redactor,
    RetryPolicy,
    SkipTopPaginator,
    parse_retry_after,
    safe_url,
)

CANARY = "canaryPAT0123456789abcdefghijklmnopqrstuvwxyz"
URL = "https://dev.azure.com/contoso/_apis/projects"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client_for(
    handler: Callable[[httpx.Request], httpx.Response],
    clock: FakeClock | None = None,
    auth: httpx.Auth | None = None,
    **retry: float,
) -> HttpClient:
    clock = clock or FakeClock()
    return HttpClient(
        system="ado_services",
        auth=auth if auth is not None else PatAuth(lambda: CANARY),
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(**retry),
        sleep=clock.sleep,
        clock=clock,
    )


def scripted(
    *responses: httpx.Response,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler, seen


# --- error mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, PermanentError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (409, VersionConflict),
        (412, VersionConflict),
        (408, TransientError),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
        (429, ThrottledError),
    ],
)
def test_status_maps_to_contract_error(status: int, kind: type[ConnectorError]) -> None:
    handler, _ = scripted(httpx.Response(status, json={"message": "TF401232: Work item 7 does not exist."}))
    with pytest.raises(ConnectorError) as caught:
        client_for(handler).request("GET", URL)
    err = caught.value
    assert type(err) is kind
    assert err.status == status
    assert err.system == "ado_services"
    assert "TF401232: Work item 7 does not exist." in err.message
    assert err.code == "TF401232"
    assert "GET https://dev.azure.com/contoso/_apis/projects" in err.message


def test_ado_validation_message_and_code_reach_the_error() -> None:
    body = {
        "$id": "1",
        "message": "VS402337: The number of work items returned exceeds the size limit of 20000.",
        "typeKey": "WorkItemTrackingQueryResultSizeLimitExceededException",
        "errorCode": 0,
    }
    handler, _ = scripted(httpx.Response(400, json=body))
    with pytest.raises(PermanentError) as caught:
        client_for(handler).request("POST", URL, json={})
    assert caught.value.code == "VS402337"
    assert "exceeds the size limit of 20000" in str(caught.value)
    assert "(HTTP 400)" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        ({"error": {"code": "InvalidRequest", "message": "Bad thing"}}, "Bad thing", "InvalidRequest"),
        (
            {
                "error": {
                    "code": "-1, Microsoft.SharePoint.Client.InvalidClientQueryException",
                    "message": {"lang": "en-US", "value": "Odd query"},
                }
            },
            "Odd query",
            "-1, Microsoft.SharePoint.Client.InvalidClientQueryException",
        ),
        ({"error": "invalid_grant", "error_description": "AADSTS70000: expired"}, "AADSTS70000: expired", ""),
    ],
)
def test_graph_and_sharepoint_error_shapes(body: dict, message: str, code: str) -> None:
    handler, _ = scripted(httpx.Response(400, json=body))
    with pytest.raises(PermanentError) as caught:
        client_for(handler).request("GET", URL)
    assert message in caught.value.message
    assert caught.value.code == code


def test_plain_text_error_body_is_kept_short() -> None:
    handler, _ = scripted(httpx.Response(400, text="<html>" + "x" * 5000 + "</html>"))
    with pytest.raises(PermanentError) as caught:
        client_for(handler).request("GET", URL)
    assert len(caught.value.message) < 500


# --- Retry-After ---------------------------------------------------------------------------------


def test_parse_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_short_retry_after_is_slept_through_in_the_request() -> None:
    clock = FakeClock()
    handler, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "1"}, json={"message": "TF400733: blocked"}),
        httpx.Response(200, json={"value": []}),
    )
    client = client_for(handler, clock)
    assert client.request("GET", URL).status_code == 200
    assert len(seen) == 2
    assert clock.sleeps == [1.0]
    assert client.stats.throttled["dev.azure.com"] == 1
    assert client.stats.retries["dev.azure.com"] == 1
    assert client.stats.calls["dev.azure.com"] == 2


def test_inline_retries_are_bounded() -> None:
    clock = FakeClock()
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "2"}, json={"message": "TF400733"}))
    with pytest.raises(ThrottledError) as caught:
        client_for(handler, clock).request("GET", URL)
    assert len(seen) == 3  # first try + 2 retries
    assert clock.sleeps == [2.0, 2.0]
    assert caught.value.retry_after == 2.0


def test_long_retry_after_is_raised_for_the_engine_and_holds_back_the_next_call() -> None:
    clock = FakeClock()
    handler, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "30"}, json={"message": "TF400733: Request was blocked"})
    )
    client = client_for(handler, clock)
    with pytest.raises(ThrottledError) as caught:
        client.request("GET", URL)
    assert caught.value.retry_after == 30.0
    assert clock.sleeps == []
    clock.now += 10
    with pytest.raises(ThrottledError) as again:
        client.request("GET", URL)
    assert len(seen) == 1, "the second call must not be sent while the server asked us to wait"
    assert again.value.retry_after == pytest.approx(20.0)


def test_503_with_short_retry_after_is_retried_and_plain_500_is_not() -> None:
    clock = FakeClock()
    handler, seen = scripted(httpx.Response(503, headers={"Retry-After": "1"}), httpx.Response(200, json={}))
    client_for(handler, clock).request("GET", URL)
    assert len(seen) == 2
    handler, seen = scripted(httpx.Response(500, json={"message": "boom"}))
    with pytest.raises(TransientError):
        client_for(handler, clock).request("GET", URL)
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("headers", "pause"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"X-RateLimit-Delay": "1.5", "X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "200"}, 1.5),
        ({"X-RateLimit-Remaining": "5", "X-RateLimit-Limit": "200"}, 0.5),
    ],
)
def test_slow_down_hints_on_a_200_pace_the_next_call(headers: dict[str, str], pause: float) -> None:
    clock = FakeClock()
    handler, seen = scripted(httpx.Response(200, headers=headers, json={}), httpx.Response(200, json={}))
    client = client_for(handler, clock)
    client.request("GET", URL)
    assert clock.sleeps == []
    client.request("GET", URL)
    assert clock.sleeps == [pytest.approx(pause)]
    assert len(seen) == 2


def test_plenty_remaining_does_not_pace() -> None:
    clock = FakeClock()
    handler, _ = scripted(
        httpx.Response(200, headers={"X-RateLimit-Remaining": "150", "X-RateLimit-Limit": "200"})
    )
    client = client_for(handler, clock)
    client.request("GET", URL)
    client.request("GET", URL)
    assert clock.sleeps == []


def test_pause_longer_than_allowed_raises_before_sending() -> None:
    clock = FakeClock()
    handler, seen = scripted(httpx.Response(200, headers={"Retry-After": "12"}, json={}))
    client = client_for(handler, clock, max_pace_wait=5.0)
    client.request("GET", URL)
    with pytest.raises(ThrottledError) as caught:
        client.request("GET", URL)
    assert len(seen) == 1
    assert caught.value.retry_after == pytest.approx(12.0)


def test_pacing_is_per_host() -> None:
    clock = FakeClock()
    handler, _ = scripted(httpx.Response(200, headers={"Retry-After": "3"}, json={}))
    client = client_for(handler, clock)
    client.request("GET", URL)
    client.request("GET", "https://vsrm.dev.azure.com/contoso/_apis/release/definitions")
    assert clock.sleeps == []
    assert dict(client.stats.calls) == {"dev.azure.com": 1, "vsrm.dev.azure.com": 1}
    assert client.stats.total_calls == 2


# --- transport failures --------------------------------------------------------------------------


@pytest.mark.parametrize("exc", [httpx.ReadTimeout("read timed out"), httpx.ConnectError("refused")])
def test_timeouts_and_connection_errors_are_transient(exc: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(TransientError) as caught:
        client_for(handler).request("GET", URL)
    assert caught.value.retryable
    assert "dev.azure.com/contoso/_apis/projects" in caught.value.message


# --- redaction -----------------------------------------------------------------------------------


def test_no_secret_in_errors_reprs_tracebacks_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    encoded = base64.b64encode(f":{CANARY}".encode()).decode()

    def echo(request: httpx.Request) -> httpx.Response:
        # A misbehaving server that echoes the credentials back in its error text.
        return httpx.Response(
            400, json={"message": f"bad header {request.headers['Authorization']} for {CANARY}"}
        )

    client = client_for(echo)
    caplog.set_level(logging.DEBUG)
    signed = URL + "?sig=SECRETSIGNATURE123&api-version=7.1"
    with pytest.raises(PermanentError) as caught:
        client.request("GET", signed)
    texts = [
        str(caught.value),
        repr(caught.value),
        caught.value.message,
        "".join(traceback.format_exception(caught.value)),
        repr(client),
        repr(PatAuth(CANARY)),
        caplog.text,
    ]
    for text in texts:
        assert CANARY not in text
        assert encoded not in text
        assert "SECRETSIGNATURE123" not in text
    assert "Basic ***" in caught.value.message


def test_redactor_and_safe_url() -> None:
    redactor = Redactor()
    redactor.add("s3cr3t-value")
    assert redactor.redact("x s3cr3t-value y") == "x *** y"
    assert redactor.redact("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc") == "Authorization: Bearer ***"
    assert safe_url("https://user:pw@host/a?code=123&b=2") == "https://host/a?code=%2A%2A%2A&b=2"


def test_transport_error_text_is_redacted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"proxy said no to {request.headers['Authorization']}")

    with pytest.raises(TransientError) as caught:
        client_for(handler).request("GET", URL)
    assert CANARY not in str(caught.value)
    assert base64.b64encode(f":{CANARY}".encode()).decode() not in str(caught.value)


# --- auth ----------------------------------------------------------------------------------------


def test_pat_is_basic_with_empty_user() -> None:
    handler, seen = scripted(httpx.Response(200, json={}))
    client_for(handler).request("GET", URL)
    expected = "Basic " + base64.b64encode(f":{CANARY}".encode()).decode()
    assert seen[0].headers["Authorization"] == expected


def test_rotated_pat_is_fetched_again_after_a_401() -> None:
    secrets = iter(["old-pat-value", "new-pat-value"])
    handler, seen = scripted(httpx.Response(401, text=""), httpx.Response(200, json={}))
    client_for(handler, auth=PatAuth(lambda: next(secrets))).request("GET", URL)
    assert len(seen) == 2
    assert seen[1].headers["Authorization"] == "Basic " + base64.b64encode(b":new-pat-value").decode()


def test_unchanged_pat_after_401_is_an_auth_error() -> None:
    handler, seen = scripted(httpx.Response(401, text=""))
    with pytest.raises(AuthError) as caught:
        client_for(handler).request("GET", URL)
    assert len(seen) == 1
    assert "credentials were refused" in caught.value.message


def test_bearer_token_from_provider() -> None:
    handler, seen = scripted(httpx.Response(200, json={}))
    client_for(handler, auth=BearerAuth(lambda: "eyJ0eXAiOiJKV1QiLCJhbGciOi.token")).request("GET", URL)
    assert seen[0].headers["Authorization"] == "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.token"
    assert "eyJ0eXAi" not in repr(BearerAuth(lambda: "x"))


# --- paging --------------------------------------------------------------------------------------


def test_continuation_token_paging() -> None:
    handler, seen = scripted(
        httpx.Response(200, headers={"x-ms-continuationtoken": "tok2"}, json={"count": 2, "value": [1, 2]}),
        httpx.Response(200, json={"count": 1, "value": [3]}),
    )
    pages = list(
        client_for(handler).paginate(
            URL, params={"api-version": "7.1"}, paginator=ContinuationTokenPaginator()
        )
    )
    assert pages == [[1, 2], [3]]
    assert "continuationToken" not in seen[0].url.params
    assert seen[1].url.params["continuationToken"] == "tok2"
    assert seen[1].url.params["api-version"] == "7.1"


def test_skip_top_paging_stops_on_a_short_page() -> None:
    handler, seen = scripted(
        httpx.Response(200, json={"value": [1, 2]}),
        httpx.Response(200, json={"value": [3, 4]}),
        httpx.Response(200, json={"value": [5]}),
    )
    pages = list(client_for(handler).paginate(URL, paginator=SkipTopPaginator(2)))
    assert pages == [[1, 2], [3, 4], [5]]
    assert [(r.url.params.get("$top"), r.url.params.get("$skip")) for r in seen] == [
        ("2", None),
        ("2", "2"),
        ("2", "4"),
    ]


def test_next_link_paging_follows_the_absolute_url() -> None:
    handler, seen = scripted(
        httpx.Response(
            200, json={"value": [1], "@odata.nextLink": "https://graph.microsoft.com/v1.0/x?$skiptoken=A"}
        ),
        httpx.Response(200, json={"value": [2]}),
    )
    pages = list(
        client_for(handler).paginate("https://graph.microsoft.com/v1.0/x", paginator=NextLinkPaginator())
    )
    assert pages == [[1], [2]]
    assert str(seen[1].url) == "https://graph.microsoft.com/v1.0/x?$skiptoken=A"


def test_json_body_sets_content_type() -> None:
    handler, seen = scripted(httpx.Response(200, json={}))
    client_for(handler).request("POST", URL, json={"a": 1})
    assert seen[0].headers["Content-Type"] == "application/json"
    assert seen[0].content == b'{"a": 1}'


def test_203_sign_in_page_is_an_auth_error() -> None:
    handler, _ = scripted(
        httpx.Response(203, headers={"Content-Type": "text/html"}, text="<html>Sign In</html>")
    )
    with pytest.raises(AuthError, match="sign-in page"):
        client_for(handler).request("GET", URL)


def test_a_2xx_that_is_not_json_is_transient() -> None:
    handler, _ = scripted(
        httpx.Response(200, headers={"Content-Type": "text/html"}, text="<html>proxy</html>")
    )
    with pytest.raises(TransientError, match="not JSON"):
        client_for(handler).get_json(URL)


def test_redirects_are_reported_not_followed() -> None:
    handler, _ = scripted(
        httpx.Response(302, headers={"Location": "https://app.vssps.visualstudio.com/_signin?x=1"})
    )
    with pytest.raises(AuthError, match="sign-in"):
        client_for(handler).request("GET", URL)
    handler, _ = scripted(httpx.Response(301, headers={"Location": "https://tfs.contoso.com/tfs/Default"}))
    with pytest.raises(PermanentError, match="configure that URL"):
        client_for(handler).request("GET", URL)


def test_a_cross_origin_next_link_is_an_error_and_not_followed() -> None:
    for link in (
        "https://evil.example/v1.0/x?$skiptoken=A",
        "http://graph.microsoft.com/v1.0/x?$skiptoken=A",  # same host, another scheme
        "https://graph.microsoft.com:8443/v1.0/x",  # same host, another port
    ):
        handler, seen = scripted(
            httpx.Response(200, json={"value": [1], "@odata.nextLink": link}),
            httpx.Response(200, json={"value": [2]}),
        )
        url = "https://graph.microsoft.com/v1.0/x"
        pages = client_for(handler).paginate(url, paginator=NextLinkPaginator())
        assert next(pages) == [1]
        with pytest.raises(PermanentError) as exc:
            next(pages)
        assert "another origin" in str(exc.value) and "not followed" in str(exc.value)
        assert len(seen) == 1, link  # nothing was sent to the other origin


def test_a_relative_next_link_resolves_on_the_same_origin() -> None:
    handler, seen = scripted(
        httpx.Response(200, json={"value": [1], "@odata.nextLink": "/v1.0/x?$skiptoken=B"}),
        httpx.Response(200, json={"value": [2]}),
    )
    url = "https://graph.microsoft.com/v1.0/x"
    pages = list(client_for(handler).paginate(url, paginator=NextLinkPaginator()))
    assert pages == [[1], [2]]
    assert str(seen[1].url) == "https://graph.microsoft.com/v1.0/x?$skiptoken=B"


def test_pwa_does_not_send_its_bearer_token_to_a_next_link_on_another_host() -> None:
    from connectors.pwa.client import PwaClient

    site = "https://contoso.sharepoint.com/sites/pwa"
    tasks = f"{site}/_api/ProjectData/Tasks"
    handler, seen = scripted(
        httpx.Response(200, json={"value": [{"Id": 1}], "odata.nextLink": "https://evil.example/steal?x=1"}),
        httpx.Response(200, json={"value": [{"Id": 2}]}),
    )
    pwa = PwaClient(site, client_for(handler))
    pages = pwa.list(f"{site}/_api/ProjectData/Tasks")
    assert next(pages) == [{"Id": 1}]
    with pytest.raises(PermanentError) as exc:
        next(pages)
    assert "evil.example" in str(exc.value) and "not followed" in str(exc.value)
    assert [r.url.host for r in seen] == ["contoso.sharepoint.com"]
    # On the same origin the link is followed.
    handler, seen = scripted(
        httpx.Response(200, json={"value": [{"Id": 1}], "odata.nextLink": f"{tasks}?$skip=1"}),
        httpx.Response(200, json={"value": [{"Id": 2}]}),
    )
    assert PwaClient(site, client_for(handler)).list_all(tasks) == [{"Id": 1}, {"Id": 2}]
