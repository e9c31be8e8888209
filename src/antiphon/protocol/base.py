"""Shared pydantic configuration for the wire format.

Requests: known fields are strict (no "12" for an int), unknown fields are ignored because
clients newer than this server send them. Responses: plain models dumped to JSON.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
