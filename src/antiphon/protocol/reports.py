"""Usage and cost report shapes (`/v1/organizations/usage_report/messages`, `…/cost_report`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from antiphon.protocol.base import ResponseModel


class CacheCreationTokens(ResponseModel):
    ephemeral_1h_input_tokens: int
    ephemeral_5m_input_tokens: int


class ServerToolUse(ResponseModel):
    web_search_requests: int = 0


class UsageResult(ResponseModel):
    uncached_input_tokens: int
    cache_creation: CacheCreationTokens
    cache_read_input_tokens: int
    output_tokens: int
    # A factory, not a shared instance: pydantic deep-copies an instance default for every
    # result, which was most of the time a year's usage report took.
    server_tool_use: ServerToolUse = Field(default_factory=ServerToolUse)
    api_key_id: str | None = None
    workspace_id: str | None = None
    model: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None


class UsageBucket(ResponseModel):
    starting_at: str
    ending_at: str
    results: list[UsageResult]


class UsageReport(ResponseModel):
    data: list[UsageBucket]
    has_more: bool
    next_page: str | None


class CostResult(ResponseModel):
    currency: Literal["USD"] = "USD"
    amount: str  # cents, as a decimal string: "123.45" is $1.2345
    workspace_id: str | None = None
    description: str | None = None
    cost_type: Literal["tokens"] | None = None
    context_window: str | None = None
    model: str | None = None
    service_tier: str | None = None
    token_type: str | None = None


class CostBucket(ResponseModel):
    starting_at: str
    ending_at: str
    results: list[CostResult]


class CostReport(ResponseModel):
    data: list[CostBucket]
    has_more: bool
    next_page: str | None
