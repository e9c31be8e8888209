"""Message Batches API shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from antiphon.protocol.base import RequestModel, ResponseModel

MAX_BATCH_REQUESTS = 100_000
# antiphon extension on GET /v1/messages/batches/{id}: requests answered so far. The API's
# request_counts say `processing` for all of them until the batch ends (the hosted rule).
PROGRESS_HEADER = "antiphon-requests-answered"

ProcessingStatus = Literal["in_progress", "canceling", "ended"]


class BatchRequestItem(RequestModel):
    # The hosted API's rule: letters, digits, `_` and `-`, 1 to 64 of them.
    custom_id: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    # Checked against the Messages request rules one by one, so an error names its custom_id.
    params: dict[str, Any]


class BatchCreateRequest(RequestModel):
    requests: list[BatchRequestItem] = Field(min_length=1, max_length=MAX_BATCH_REQUESTS)


class RequestCounts(ResponseModel):
    processing: int = 0
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0


class MessageBatch(ResponseModel):
    id: str
    type: Literal["message_batch"] = "message_batch"
    processing_status: ProcessingStatus
    request_counts: RequestCounts
    created_at: str
    expires_at: str
    ended_at: str | None
    cancel_initiated_at: str | None
    archived_at: str | None = None
    results_url: str | None


class MessageBatchList(ResponseModel):
    data: list[MessageBatch]
    has_more: bool
    first_id: str | None
    last_id: str | None


class DeletedMessageBatch(ResponseModel):
    type: Literal["message_batch_deleted"] = "message_batch_deleted"
    id: str
