"""Admin API shapes: the organisation, workspaces, API keys, rate limits and spend limits;
members (users and invites) are in `protocol/members.py`.

Requests forbid unknown fields: an admin call that names a setting this server does not
have (data residency, encryption keys) should fail loudly rather than be half-applied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from antiphon.protocol.base import RequestModel, ResponseModel
from antiphon.protocol.members import InviteObject, UserObject, WorkspaceMemberObject

KeyStatus = Literal["active", "inactive", "archived", "expired"]
LimitType = Literal["requests_per_minute", "input_tokens_per_minute", "output_tokens_per_minute"]


class AdminRequest(RequestModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def _check_tags(tags: dict[str, str | None] | None) -> dict[str, str | None] | None:
    for key in tags or {}:
        if not key or key.lower().startswith("anthropic"):
            raise ValueError(f"tag key {key!r}: must be non-empty and not begin with 'anthropic'")
    return tags


class OrganizationInfo(ResponseModel):
    type: Literal["organization"] = "organization"
    id: str
    name: str


class WorkspaceObject(ResponseModel):
    type: Literal["workspace"] = "workspace"
    id: str
    name: str
    display_color: str
    tags: dict[str, str]
    created_at: str
    archived_at: str | None


class WorkspaceCreate(AdminRequest):
    name: str = Field(min_length=1, max_length=40)
    display_color: str | None = Field(None, pattern=r"^#[0-9a-fA-F]{6}$")
    tags: dict[str, str] | None = None

    _tags = field_validator("tags")(_check_tags)


class WorkspaceUpdate(AdminRequest):
    name: str | None = Field(None, min_length=1, max_length=40)
    display_color: str | None = Field(None, pattern=r"^#[0-9a-fA-F]{6}$")
    tags: dict[str, str | None] | None = None  # a null value removes that tag

    _tags = field_validator("tags")(_check_tags)


class WorkspaceScope(ResponseModel):
    type: Literal["workspace"] = "workspace"
    workspace_id: str


class ApiKeyObject(ResponseModel):
    type: Literal["api_key"] = "api_key"
    id: str
    name: str
    status: KeyStatus
    workspace_id: str | None
    scope: WorkspaceScope | None
    created_at: str
    expires_at: str | None
    partial_key_hint: str
    created_by: None = None
    principal: None = None


class CreatedApiKey(ApiKeyObject):
    """The create response: the object plus its secret, which is never shown again."""

    key: str


class ApiKeyCreate(AdminRequest):
    name: str = Field(min_length=1, max_length=500)
    workspace_id: str | None = None
    expires_at: datetime | None = None

    @field_validator("expires_at", mode="before")
    @classmethod
    def _parse_time(cls, value: object) -> object:
        # Strict mode takes no strings for datetimes; the API sends RFC 3339 text.
        if isinstance(value, str):
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        return value


class ApiKeyUpdate(AdminRequest):
    name: str | None = Field(None, min_length=1, max_length=500)
    status: Literal["active", "inactive", "archived"] | None = None


class ListPage(ResponseModel):
    """`data` with the id cursors the SDK's `SyncPage` follows."""

    data: (list[WorkspaceObject] | list[ApiKeyObject] | list[UserObject] | list[InviteObject]
           | list[WorkspaceMemberObject])
    has_more: bool
    first_id: str | None
    last_id: str | None


class RateLimitGroup(ResponseModel):
    type: Literal["model_group"] = "model_group"
    id: str
    display_name: str


class OrganizationLimitValue(ResponseModel):
    type: LimitType
    value: int


class OrganizationRateLimit(ResponseModel):
    type: Literal["rate_limit"] = "rate_limit"
    id: str
    group: RateLimitGroup
    limits: list[OrganizationLimitValue]
    models: list[str]


class LimitSource(ResponseModel):
    type: Literal["workspace", "organization"]


class WorkspaceLimitValue(ResponseModel):
    type: LimitType
    value: int
    org_limit: int | None
    source: LimitSource


class WorkspaceRateLimit(ResponseModel):
    group: RateLimitGroup
    limits: list[WorkspaceLimitValue]


class CursorPage(ResponseModel):
    """`data` with the opaque `next_page` cursor the SDK's `SyncPageCursor` follows."""

    data: list[OrganizationRateLimit] | list[WorkspaceRateLimit]
    next_page: str | None = None


class LimitChange(AdminRequest):
    type: LimitType
    value: int | None = Field(ge=1)


class RateLimitUpdate(AdminRequest):
    limits: list[LimitChange] = Field(min_length=1)


class SpendLimitScope(ResponseModel):
    type: Literal["workspace"] = "workspace"
    workspace_id: str


class SpendLimitObject(ResponseModel):
    type: Literal["spend_limit"] = "spend_limit"
    id: str
    amount: str | None  # US cents as a decimal string; null: no limit
    currency: Literal["USD"] = "USD"
    period: Literal["monthly"] = "monthly"
    is_enabled: bool = True
    scope: SpendLimitScope
    spent: str  # this month so far, in cents (an antiphon addition)


class SpendLimitUpdate(AdminRequest):
    amount: str | None = Field(pattern=r"^[0-9]{1,15}$")
    currency: Literal["USD"] = "USD"
    period: Literal["monthly"] = "monthly"
