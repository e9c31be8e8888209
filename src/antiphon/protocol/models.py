"""`GET /v1/models` shapes."""

from __future__ import annotations

from typing import Literal

from antiphon.protocol.base import ResponseModel


class ModelInfo(ResponseModel):
    type: Literal["model"] = "model"
    id: str
    display_name: str
    created_at: str
    max_input_tokens: int
    max_tokens: int
    lifecycle: Literal["active", "deprecated", "retired"] = "active"


class ModelList(ResponseModel):
    data: list[ModelInfo]
    first_id: str | None
    last_id: str | None
    has_more: bool
