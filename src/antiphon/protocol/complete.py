"""Legacy `POST /v1/complete` (Text Completions) shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from antiphon.protocol.base import RequestModel, ResponseModel
from antiphon.protocol.messages import Metadata


class CompletionRequest(RequestModel):
    model: str
    prompt: str
    max_tokens_to_sample: int = Field(ge=1)
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    metadata: Metadata | None = None
    stream: bool = False
    seed: int | None = Field(default=None, ge=0)


CompletionStopReason = Literal["stop_sequence", "max_tokens"]


class Completion(ResponseModel):
    id: str
    type: Literal["completion"] = "completion"
    completion: str
    stop_reason: CompletionStopReason | None
    stop: str | None
    model: str
