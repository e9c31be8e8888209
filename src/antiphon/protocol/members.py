"""Admin API shapes for the organisation's members: users and invites, as the SDK's
`organization.users` and `organization.invites` read them."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from antiphon.protocol.base import RequestModel, ResponseModel

InviteStatus = Literal["accepted", "deleted", "expired", "pending"]


class MemberRequest(RequestModel):
    # Strict and closed like every Admin API request (protocol/admin.py says why).
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class UserObject(ResponseModel):
    type: Literal["user"] = "user"
    id: str
    email: str
    name: str
    role: str  # one of the SDK's OrganizationRole values
    added_at: str


class UserUpdate(MemberRequest):
    role: str


class UserDeleted(ResponseModel):
    type: Literal["user_deleted"] = "user_deleted"
    id: str


class InviteObject(ResponseModel):
    type: Literal["invite"] = "invite"
    id: str
    email: str
    role: str
    status: InviteStatus
    invited_at: str
    expires_at: str
    accepted_at: str | None
    rbac_group_ids: list[str] = Field(default_factory=list)


class CreatedInvite(InviteObject):
    """The create response: the invite plus its one-time token, which is never shown again
    (an antiphon addition: the hosted API emails a link instead)."""

    token: str


class InviteCreate(MemberRequest):
    email: str = Field(min_length=1, max_length=320)
    role: str
    rbac_group_ids: list[str] | None = None


class InviteDeleted(ResponseModel):
    type: Literal["invite_deleted"] = "invite_deleted"
    id: str


class WorkspaceMemberObject(ResponseModel):
    type: Literal["workspace_member"] = "workspace_member"
    user_id: str
    workspace_id: str
    workspace_role: str  # one of the SDK's WorkspaceRole values


class WorkspaceMemberAdd(MemberRequest):
    user_id: str = Field(min_length=1, max_length=64)
    workspace_role: str


class WorkspaceMemberUpdate(MemberRequest):
    workspace_role: str


class WorkspaceMemberDeleted(ResponseModel):
    type: Literal["workspace_member_deleted"] = "workspace_member_deleted"
    user_id: str
    workspace_id: str
