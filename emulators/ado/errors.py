"""Azure DevOps error responses: one exception type carrying the real JSON error shape, plus a factory
per error the emulator can raise, with the VS/TF codes and type keys the real services use."""

from __future__ import annotations

from typing import Any

_WIT = "Microsoft.TeamFoundation.WorkItemTracking.Server"
_WEBAPI = "Microsoft.VisualStudio.Services.WebApi"


class AdoError(Exception):
    """An error the emulator answers with `{"$id","innerException","message","typeName","typeKey",...}`."""

    def __init__(
        self,
        status: int,
        message: str,
        type_key: str,
        *,
        type_name: str | None = None,
        event_id: int = 3000,
        error_code: int = 0,
        custom_properties: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type_key = type_key
        self.type_name = type_name or f"{_WEBAPI}.{type_key}, {_WEBAPI}"
        self.event_id = event_id
        self.error_code = error_code
        self.custom_properties = custom_properties
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"$id": "1"}
        if self.custom_properties is not None:
            body["customProperties"] = self.custom_properties
        body.update(
            {
                "innerException": None,
                "message": self.message,
                "typeName": self.type_name,
                "typeKey": self.type_key,
                "errorCode": self.error_code,
                "eventId": self.event_id,
            }
        )
        return body


def _wit(status: int, message: str, type_key: str, **kw: Any) -> AdoError:
    return AdoError(
        status,
        message,
        type_key,
        type_name=f"{_WIT}.{type_key}, {_WIT}",
        event_id=kw.pop("event_id", 3200),
        **kw,
    )


# --- platform ---------------------------------------------------------------------------------------


def unauthorized() -> AdoError:
    return AdoError(
        401,
        "TF400813: Resource not available for anonymous access. Client authentication required.",
        "UnauthorizedRequestException",
        type_name="Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException, "
        "Microsoft.TeamFoundation.Framework.Server",
        headers={"WWW-Authenticate": 'Basic realm="https://dev.azure.com/"'},
    )


def api_version_missing(method: str) -> AdoError:
    return AdoError(
        400,
        f'No api-version was supplied for the "{method}" request. The version must be supplied either as '
        'part of the Accept header (e.g. "application/json; api-version=1.0") or as a query parameter '
        '(e.g. "?api-version=1.0").',
        "VssVersionNotSpecifiedException",
    )


def api_version_invalid(value: str) -> AdoError:
    return AdoError(
        400, f"The specified API version '{value}' is not valid.", "VssInvalidApiVersionException"
    )


def api_version_out_of_range(requested: str, latest: str) -> AdoError:
    return AdoError(
        400,
        f"The requested REST API version of {requested} is out of range for this server. "
        f"The latest REST API version this server supports is {latest}.",
        "VssVersionOutOfRangeException",
    )


def api_version_needs_preview(requested: str) -> AdoError:
    return AdoError(
        400,
        f'The requested version "{requested}" of the resource is under preview. The -preview flag must be '
        f'supplied in the api-version for such requests. For example: "{requested}-preview"',
        "VssInvalidPreviewVersionException",
    )


def not_found_route(path: str) -> AdoError:
    return AdoError(
        404,
        f"The controller for path '{path}' was not found or does not implement IController.",
        "HttpException",
        type_name="System.Web.HttpException, System.Web",
    )


def method_not_allowed(method: str) -> AdoError:
    return AdoError(405, f"The requested resource does not support http method '{method}'.", "HttpException")


def bad_request(message: str, type_key: str = "ArgumentException") -> AdoError:
    return AdoError(400, message, type_key, type_name=f"System.{type_key}, mscorlib")


def throttled(*, resource: str = "ATCPU", message: str | None = None) -> AdoError:
    return AdoError(
        429,
        message
        or (
            "TF400733: The request has been canceled: Request was blocked due to exceeding usage of "
            f"resource '{resource}' in namespace 'User'. For more information on why your request was "
            'blocked, see the topic "Rate limits" on the Microsoft Web site '
            "(https://go.microsoft.com/fwlink/?LinkId=823950)."
        ),
        "RequestBlockedException",
        type_name="Microsoft.TeamFoundation.Framework.Server.RequestBlockedException, "
        "Microsoft.TeamFoundation.Framework.Server",
    )


def injected(status: int, message: str | None = None) -> AdoError:
    text = message or {
        500: "TF246018: The database operation exceeded the timeout limit and has been cancelled.",
        502: "Bad Gateway",
        503: "TF400898: An Internal Error Occurred. Activity Id: 00000000-0000-0000-0000-000000000000.",
        504: "Gateway Timeout",
    }.get(status, f"Injected failure ({status}).")
    return AdoError(status, text, "VssServiceException")


def content_type_not_supported(content_type: str, method: str, expected: str) -> AdoError:
    return AdoError(
        415,
        f'The request indicated a Content-Type of "{content_type}" for method type "{method}" which is not '
        f"supported. Valid content types for this method are: {expected}.",
        "VssRequestContentTypeNotSupportedException",
    )


def invalid_patch_document() -> AdoError:
    return AdoError(
        400,
        "You must pass a valid patch document in the body of the request.",
        "VssPropertyValidationException",
    )


def invalid_body(message: str = "Value cannot be null.\r\nParameter name: body") -> AdoError:
    return AdoError(400, message, "VssPropertyValidationException")


# --- projects ---------------------------------------------------------------------------------------


def project_not_found(name: str) -> AdoError:
    return AdoError(
        404,
        f"TF200016: The following project does not exist: {name}. Verify that the name of the project is "
        "correct and that the project exists on the specified Azure DevOps Server.",
        "ProjectDoesNotExistWithNameException",
        type_name="Microsoft.TeamFoundation.Core.WebApi.ProjectDoesNotExistWithNameException, "
        "Microsoft.TeamFoundation.Core.WebApi",
    )


# --- work items -------------------------------------------------------------------------------------


def work_item_not_found(item_id: int) -> AdoError:
    return _wit(
        404,
        f"TF401232: Work item {item_id} does not exist, or you do not have permissions to read it.",
        "WorkItemUnauthorizedAccessException",
    )


def revision_not_found(item_id: int, rev: int) -> AdoError:
    return _wit(
        404,
        f"VS402336: Revision {rev} of work item {item_id} does not exist.",
        "WorkItemRevisionNotFoundException",
    )


def work_item_type_not_found(type_name: str, project_id: str) -> AdoError:
    return _wit(
        404,
        f"VS402323: Work item type {type_name} does not exist in project {project_id} or you do not have "
        "permission to access it.",
        "WorkItemTypeNotFoundException",
    )


def field_not_found(ref: str) -> AdoError:
    return _wit(400, f"TF51535: Cannot find field {ref}.", "WorkItemTrackingFieldDefinitionNotFoundException")


def field_invalid_status(ref: str, status: str) -> AdoError:
    return _wit(
        400,
        f"TF401326: Invalid field status '{status}' for field '{ref}'.",
        "WorkItemFieldInvalidException",
        error_code=600171,
        custom_properties={"ReferenceName": ref},
    )


def unknown_identity(value: str, field_name: str, ref: str) -> AdoError:
    return _wit(
        400,
        f"The identity value '{value}' for field '{field_name}' is an unknown identity.",
        "WorkItemFieldInvalidException",
        error_code=600171,
        custom_properties={"ReferenceName": ref},
    )


def ambiguous_identity(value: str, field_name: str, ref: str) -> AdoError:
    return _wit(
        400,
        f"The identity value '{value}' for field '{field_name}' is an ambiguous identity. "
        "Use the unique name (e-mail or domain\\user) instead.",
        "WorkItemFieldInvalidException",
        error_code=600171,
        custom_properties={"ReferenceName": ref},
    )


def rule_error(field_name: str, ref: str, codes: str) -> AdoError:
    return _wit(
        400,
        f"TF401320: Rule Error for field {field_name}. Error code: {codes}.",
        "RuleValidationException",
        error_code=600171,
        custom_properties={
            "FieldReferenceName": ref,
            "FieldStatusFlags": codes.lower(),
            "ErrorMessage": f"TF401320: Rule Error for field {field_name}. Error code: {codes}.",
            "RuleValidationErrors": [],
        },
    )


def invalid_tree_path(item_id: int, ref: str) -> AdoError:
    return _wit(
        400,
        f"TF401347: Invalid tree name given for work item {item_id}, field '{ref}'.",
        "WorkItemInvalidTreeNameException",
    )


def revision_mismatch() -> AdoError:
    return _wit(
        412,
        "TF26071: This work item has been changed by someone else since you opened it. You will need to "
        "refresh it and discard your changes.",
        "WorkItemRevisionMismatchException",
    )


def test_failed(path: str) -> AdoError:
    return AdoError(
        412,
        f"Test operation failed for path '{path}': the current value differs from the expected value.",
        "TestPatchOperationFailedException",
    )


def dates_must_increase() -> AdoError:
    return _wit(400, "VS402625: Dates must be increasing with each revision.", "WorkItemDateException")


def too_many_revisions(item_id: int) -> AdoError:
    return _wit(
        500,
        f"VS403324: Work item {item_id} cannot be updated: only work items with up to 10,000 revisions are "
        "supported.",
        "WorkItemRevisionLimitExceededException",
    )


def link_error(message: str) -> AdoError:
    return _wit(400, message, "WorkItemLinkInvalidException")


def batch_limit(requested: int, limit: int) -> AdoError:
    return _wit(
        400,
        f"VS403474: You requested {requested} work items which exceeds the limit of {limit}",
        "WorkItemBatchLimitExceededException",
    )


def expand_with_fields() -> AdoError:
    return _wit(
        400,
        "The expand parameter can not be used with the fields parameter.",
        "ConflictingParametersException",
    )


# --- WIQL -------------------------------------------------------------------------------------------


def wiql_syntax(detail: str, near: str) -> AdoError:
    return _wit(400, f"TF51006: {detail} The error is caused by «{near}».", "QueryException")


def wiql_unknown_field(name: str) -> AdoError:
    return _wit(
        400,
        f"TF51005: The query references a field that does not exist. The error is caused by «{name}».",
        "QueryException",
    )


def wiql_time_with_date(clause: str) -> AdoError:
    return _wit(
        400,
        "You cannot supply a time with the date when running a query using date precision. "
        f"The error is caused by «{clause}».",
        "QueryException",
    )


def wiql_too_many(limit: int) -> AdoError:
    return _wit(
        400,
        f"VS402337: The number of work items returned exceeds the size limit of {limit}. "
        "Change the query to return fewer work items.",
        "WorkItemTrackingQueryResultSizeLimitExceededException",
    )


# --- service hooks ----------------------------------------------------------------------------------


def subscription_not_found(subscription_id: str) -> AdoError:
    return AdoError(
        404,
        f"VS1440013: The subscription with id '{subscription_id}' could not be found.",
        "SubscriptionNotFoundException",
        type_name="Microsoft.VisualStudio.Services.ServiceHooks.WebApi.SubscriptionNotFoundException, "
        "Microsoft.VisualStudio.Services.ServiceHooks.WebApi",
    )


def subscription_invalid(message: str) -> AdoError:
    return AdoError(
        400,
        message,
        "SubscriptionInputException",
        type_name="Microsoft.VisualStudio.Services.ServiceHooks.WebApi.SubscriptionInputException, "
        "Microsoft.VisualStudio.Services.ServiceHooks.WebApi",
    )


# --- entitlements and graph -------------------------------------------------------------------------


def member_not_found(user_id: str) -> AdoError:
    return AdoError(
        404, f"VS403281: The user with id '{user_id}' could not be found.", "MemberNotFoundException"
    )


def group_not_found(group_id: str) -> AdoError:
    return AdoError(
        404, f"VS403282: The group with id '{group_id}' could not be found.", "GroupNotFoundException"
    )


def subject_not_found(key: str) -> AdoError:
    return AdoError(
        404, f"VS860018: The subject '{key}' could not be found.", "GraphSubjectNotFoundException"
    )


def operation_not_found(operation_id: str) -> AdoError:
    return AdoError(
        404,
        f"VS403120: The operation with id '{operation_id}' could not be found.",
        "OperationNotFoundException",
    )
