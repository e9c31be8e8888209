"""Message Threads: the server holds a conversation between turns, so that each request sends
only what is new (`thread: {"type": "continue", "previous_message_id": …}`).

The newest SDK's tool runner and `client.beta.messages.thread()` work this way: the first
request says `{"type": "create"}`, the next ones send only the tool results, without
`system` and `tools`, which the thread fixed when it was created. A continued request is
the stored conversation, then its own messages; its reply is stored in turn under the
reply's id. Each reply can be continued once: a second continue from it is
`thread_already_continued`, one while another is running `thread_continue_in_flight`, an
unknown, expired or other workspace's id `thread_not_found` — the errors the SDK recovers
from by sending the whole conversation again under a new thread. Threads expire
`THREAD_TTL` after their last reply.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from antiphon.errors import (
    InvalidRequest,
    ThreadAlreadyContinued,
    ThreadContinueInFlight,
    ThreadFingerprintMismatch,
    ThreadNotFound,
)
from antiphon.ids import utc_now
from antiphon.protocol.messages import Message, MessagesRequest, ThreadContinue
from antiphon.store.tables import MessageThreadRow
from antiphon.store.threads import ClaimRefusal, ThreadStore

THREAD_TTL = timedelta(days=30)
_SWEEP_SECONDS = 600.0
_FIXED = ("system", "tools")  # taken from the thread on a continue, as the SDK expects


@dataclass(frozen=True)
class ThreadTurn:
    """A request in a thread, its conversation made whole, and what to store once answered."""

    request: MessagesRequest
    workspace_id: str
    continues: str | None  # the reply it continues, held as in flight until the end
    fixed_fields: str  # JSON
    history: list[dict[str, Any]]  # the conversation before this reply, as sent


class ThreadService:
    def __init__(self, store: ThreadStore) -> None:
        self._store = store
        self._swept_at = 0.0

    async def begin(self, request: MessagesRequest, workspace_id: str | None) -> ThreadTurn | None:
        """The turn to run for a request with `thread`, or None for one without. A continue
        holds the reply it continues until `finish` or `abandon`."""
        thread = request.thread
        if thread is None:
            return None
        if workspace_id is None:
            raise InvalidRequest("thread: threads belong to a workspace; use an API key")
        sent = [message.model_dump(mode="json", exclude_none=True) for message in request.messages]
        if not isinstance(thread, ThreadContinue):
            return ThreadTurn(request, workspace_id, None, json.dumps(_fixed(request)), sent)
        previous = thread.previous_message_id
        claimed = await self._store.claim(workspace_id, previous, utc_now())
        if isinstance(claimed, str):
            raise _refusal(claimed, previous)
        history = json.loads(claimed.history) + sent
        try:
            whole = _continued(request, json.loads(claimed.fixed_fields), history)
        except BaseException:
            await self._store.release(previous)
            raise
        return ThreadTurn(whole, workspace_id, previous, claimed.fixed_fields, history)

    async def finish(self, turn: ThreadTurn, reply: Message) -> None:
        """Store the reply as the thread's newest, continuable by its id."""
        now = utc_now()
        content = [block.model_dump(mode="json") for block in reply.content]
        history = turn.history + ([{"role": "assistant", "content": content}] if content else [])
        row = MessageThreadRow(
            message_id=reply.id, workspace_id=turn.workspace_id, state="open",
            fixed_fields=turn.fixed_fields, history=json.dumps(history),
            created_at=now, expires_at=now + THREAD_TTL,
        )
        if turn.continues is None:
            await self._store.add(row)
        else:
            try:
                await self._store.continued(turn.continues, row)
            except BaseException:
                await self.abandon(turn)  # not stored: the old reply stays the one to continue
                raise
        await self._sweep()

    async def abandon(self, turn: ThreadTurn | None) -> None:
        """The turn got no reply (refused, failed, client gone): its reply may be continued again."""
        if turn is not None and turn.continues is not None:
            await self._store.release(turn.continues)

    async def _sweep(self) -> None:
        if time.monotonic() - self._swept_at >= _SWEEP_SECONDS:
            self._swept_at = time.monotonic()
            await self._store.delete_expired(utc_now())


def _fixed(request: MessagesRequest) -> dict[str, Any]:
    """`system` and `tools` as sent (absent ones left out), for storing and comparing."""
    return request.model_dump(mode="json", by_alias=True, exclude_none=True, include=set(_FIXED))


def _continued(request: MessagesRequest, fixed: dict[str, Any], history: list[dict[str, Any]]) -> MessagesRequest:
    """The request as if sent whole: the thread's fixed fields and conversation, then its own."""
    sent = _fixed(request)
    changed = [name for name in _FIXED if name in request.model_fields_set and sent.get(name) != fixed.get(name)]
    if changed:
        raise ThreadFingerprintMismatch(
            f"{', '.join(changed)}: fixed when the thread was created; leave "
            f"{'them' if len(changed) > 1 else 'it'} out, or start a new thread"
        )
    body = request.model_dump(mode="json", by_alias=True, exclude_none=True,
                              exclude={"thread", "messages", *_FIXED})
    return MessagesRequest.model_validate({**body, **fixed, "messages": history}, strict=False)


def _refusal(reason: ClaimRefusal, previous: str) -> InvalidRequest | ThreadNotFound:
    if reason == "not_found":
        return ThreadNotFound(
            f"thread.previous_message_id: no thread continues from `{previous}` here; send "
            'the whole conversation with `thread: {"type": "create"}`'
        )
    if reason == "in_flight":
        return ThreadContinueInFlight(
            f"thread.previous_message_id: another request is continuing from `{previous}`; "
            "continue from its reply"
        )
    return ThreadAlreadyContinued(
        f"thread.previous_message_id: `{previous}` was continued already; continue from the "
        "thread's newest reply"
    )
