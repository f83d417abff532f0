"""The SCIM resources this service provider serves, as scim2-models classes: only the attributes Azure
DevOps can hold, with the mutability ADO allows (names and e-mail come from the directory, so they are
read-only), the Azure DevOps extensions for licences, and the `Project` resource type. `/Schemas` and
`/ResourceTypes` are generated from these classes."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field
from scim2_models import (
    URN,
    CaseExact,
    ComplexAttribute,
    Email,
    Extension,
    GroupMembership,
    Mutability,
    Reference,
    Required,
    Resource,
    Returned,
    Uniqueness,
)

USER_EXTENSION = "urn:tandem:params:scim:schemas:extension:azuredevops:2.0:User"
GROUP_EXTENSION = "urn:tandem:params:scim:schemas:extension:azuredevops:2.0:Group"
PROJECT_SCHEMA = "urn:tandem:params:scim:schemas:azuredevops:2.0:Project"

# ADO's value "none" is the absence of a value in SCIM, so it is not offered as a canonical value.
ACCOUNT_LICENSES = ["stakeholder", "express", "advanced", "professional"]
LICENSING_SOURCES = ["account", "msdn"]
MSDN_LICENSES = [
    "eligible",
    "professional",
    "platforms",
    "testProfessional",
    "premium",
    "ultimate",
    "enterprise",
]


class ProjectEntitlement(ComplexAttribute):
    value: Annotated[str | None, Mutability.read_only] = None
    """The project's id."""
    display: Annotated[str | None, Mutability.read_only] = None
    """The project's name."""
    type: Annotated[str | None, Mutability.read_only] = None
    """The project group: projectContributor, projectReader, …"""


class AzureDevOpsUser(Extension):
    """A user entitlement's access level and identity details (`accessLevel`, `user`). The read-only
    details are returned when asked for (`attributes`), so the extension holds only the licence by default
    and disappears when the licence is removed."""

    __schema__ = URN(USER_EXTENSION)

    account_license_type: Annotated[str | None, Mutability.read_write, CaseExact.false] = Field(
        None, examples=ACCOUNT_LICENSES
    )
    licensing_source: Annotated[str | None, Mutability.read_write, CaseExact.false] = Field(
        None, examples=LICENSING_SOURCES
    )
    msdn_license_type: Annotated[str | None, Mutability.read_write, CaseExact.false] = Field(
        None, examples=MSDN_LICENSES
    )
    license_display_name: Annotated[str | None, Mutability.read_only, Returned.request] = None
    status: Annotated[str | None, Mutability.read_only, Returned.request] = None
    status_message: Annotated[str | None, Mutability.read_only, Returned.request] = None
    assignment_source: Annotated[str | None, Mutability.read_only, Returned.request] = None
    origin: Annotated[str | None, Mutability.read_only, Returned.request] = None
    origin_id: Annotated[str | None, Mutability.read_only, Returned.request] = None
    descriptor: Annotated[str | None, Mutability.read_only, Returned.request] = None
    subject_kind: Annotated[str | None, Mutability.read_only, Returned.request] = None
    meta_type: Annotated[str | None, Mutability.read_only, Returned.request] = None
    domain: Annotated[str | None, Mutability.read_only, Returned.request] = None
    directory_alias: Annotated[str | None, Mutability.read_only, Returned.request] = None
    project_entitlements: Annotated[
        list[ProjectEntitlement] | None, Mutability.read_only, Returned.request
    ] = None


class User(Resource[AzureDevOpsUser]):
    """A user entitlement. `userName` is the sign-in name (UPN/e-mail) and cannot change in ADO."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")

    user_name: Annotated[str | None, Uniqueness.server, Required.true, Mutability.immutable] = None
    """The user's sign-in name (UPN), an e-mail address."""
    display_name: Annotated[str | None, Mutability.read_only] = None
    """Azure DevOps takes the display name from the directory."""
    active: bool | None = None
    """False removes the user's licence (stakeholder access) without deleting the user; true restores it."""
    emails: Annotated[list[Email] | None, Mutability.read_only] = None
    """The one e-mail address ADO holds per user (from the directory)."""
    groups: Annotated[list[GroupMembership] | None, Mutability.read_only] = None
    """The group rules (SCIM Groups) the user belongs to."""

    Emails: ClassVar[type[ComplexAttribute]] = Email
    Groups: ClassVar[type[ComplexAttribute]] = GroupMembership


class Member(ComplexAttribute):
    value: Annotated[str | None, Mutability.immutable, CaseExact.true] = None
    """The member's SCIM User id (its user entitlement id)."""
    ref: Annotated[Reference[User] | None, Mutability.immutable] = Field(
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    type: Annotated[str | None, Mutability.immutable] = Field(None, examples=["User"])
    display: Annotated[str | None, Mutability.read_only] = None


class AzureDevOpsGroup(Extension):
    """A group rule's licence (`licenseRule`) and the group's identity details."""

    __schema__ = URN(GROUP_EXTENSION)

    account_license_type: Annotated[str | None, Required.true, Mutability.read_write, CaseExact.false] = (
        Field(None, examples=ACCOUNT_LICENSES)
    )
    licensing_source: Annotated[str | None, Required.true, Mutability.read_write, CaseExact.false] = Field(
        None, examples=LICENSING_SOURCES
    )
    msdn_license_type: Annotated[str | None, Required.true, Mutability.read_write, CaseExact.false] = Field(
        None, examples=["none", *MSDN_LICENSES]
    )
    license_display_name: Annotated[str | None, Mutability.read_only, Returned.request] = None
    status: Annotated[str | None, Mutability.read_only, Returned.request] = None
    origin: Annotated[str | None, Mutability.read_only, Returned.request] = None
    origin_id: Annotated[str | None, Mutability.read_only, Returned.request] = None
    descriptor: Annotated[str | None, Mutability.read_only, Returned.request] = None


class Group(Resource[AzureDevOpsGroup]):
    """A group entitlement (group rule). Its name cannot change, nor be reused after deletion."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:Group")

    display_name: Annotated[str | None, Required.true, Mutability.immutable, Uniqueness.server] = None
    members: list[Member] | None = None

    Members: ClassVar[type[ComplexAttribute]] = Member


class DefaultTeam(ComplexAttribute):
    value: Annotated[str | None, Mutability.read_only] = None
    display: Annotated[str | None, Mutability.read_only] = None


class Project(Resource[Any]):
    """An Azure DevOps project. Process and version control are chosen once, at creation."""

    __schema__ = URN(PROJECT_SCHEMA)

    display_name: Annotated[str | None, Required.true, Uniqueness.server] = None
    description: str | None = None
    visibility: str | None = Field(None, examples=["private", "public"])
    state: Annotated[str | None, Mutability.read_only] = None
    revision: Annotated[int | None, Mutability.read_only] = None
    process_template_type_id: Annotated[str | None, Required.true, Mutability.immutable] = None
    process_template_name: Annotated[str | None, Mutability.read_only] = None
    version_control: Annotated[str | None, Required.true, Mutability.immutable] = Field(
        None, examples=["Git", "Tfvc"]
    )
    git_enabled: Annotated[bool | None, Mutability.read_only] = None
    tfvc_enabled: Annotated[bool | None, Mutability.read_only] = None
    default_team: Annotated[DefaultTeam | None, Mutability.read_only, Returned.default] = None


RESOURCES: dict[str, type[Resource[Any]]] = {"User": User, "Group": Group, "Project": Project}
ENDPOINTS = {"User": "/Users", "Group": "/Groups", "Project": "/Projects"}
DESCRIPTIONS = {
    "User": "Azure DevOps user entitlements (users with their access level)",
    "Group": "Azure DevOps group entitlements (group rules with their licence)",
    "Project": "Azure DevOps projects",
}
