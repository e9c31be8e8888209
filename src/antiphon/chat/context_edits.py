"""Server-side context editing: `context_management.edits`, applied before rendering.

An agent sends its whole history with every request; once tool results pile up, it no longer
fits a small model's window. The hosted API lets the request say how to thin it out, and
reports what it removed. Each edit runs in the order given, on the result of the one before:

- `clear_tool_uses_20250919`: once the prompt reaches `trigger` (input tokens, default
  100,000; or a number of tool uses), the results of all but the newest `keep` tool uses
  (default 3) are replaced by a placeholder, and their calls' inputs too where
  `clear_tool_inputs` says so (all, or the named tools). `exclude_tools` are never touched.
  If `clear_at_least` is given and fewer tokens would be cleared, nothing is.
- `clear_thinking_20251015`: thinking blocks are dropped from all but the newest `keep`
  assistant turns that have any (default 1; `all` keeps every one).

Counting needs the prompt as the model would see it, so the caller hands in `count`, which
renders and tokenizes a request. The client's own copy of the history is never changed: the
next request arrives whole and is edited again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from antiphon.errors import InvalidRequest
from antiphon.protocol.content import (
    RedactedThinkingBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from antiphon.protocol.messages import (
    AppliedEdit,
    ClearedThinking,
    ClearedToolUses,
    ClearThinkingEdit,
    ClearToolUsesEdit,
    CountTokensRequest,
    InputMessage,
    ThinkingTurns,
)

CLEARED_RESULT = "[This tool result was cleared to save context.]"
DEFAULT_TRIGGER_TOKENS = 100_000
DEFAULT_KEEP_TOOL_USES = 3
DEFAULT_KEEP_THINKING_TURNS = 1

Request = TypeVar("Request", bound=CountTokensRequest)
Count = Callable[[CountTokensRequest], int]


@dataclass(frozen=True)
class EditedContext:
    applied: tuple[AppliedEdit, ...]


class _Measured(Generic[Request]):
    """A request and its prompt's token count, counted once and only when an edit needs it
    (Claude Code sends `clear_thinking` with `keep: "all"` on every turn: nothing to count)."""

    def __init__(self, request: Request, count: Count) -> None:
        self.request = request
        self._count = count
        self._tokens: int | None = None

    @property
    def tokens(self) -> int:
        if self._tokens is None:
            self._tokens = self._count(self.request)
        return self._tokens

    def edited(
        self, request: Request, applied: Callable[[int], AppliedEdit]
    ) -> tuple[_Measured[Request], AppliedEdit]:
        """The edited request, and the edit's report made from the tokens it cleared."""
        after = _Measured(request, self._count)
        return after, applied(self.tokens - after.tokens)


def edit_context(request: Request, count: Count) -> tuple[Request, EditedContext | None]:
    """The request with its edits applied, and what they did (None without edits)."""
    config = request.context_management
    if config is None or not config.edits:
        return request, None
    for index, edit in enumerate(config.edits):
        if edit.type == "compact_20260112":
            raise InvalidRequest(
                f"context_management.edits.{index}.type: `compact_20260112` (summarising the "
                "history with the model) is not available on this server; use "
                "`clear_tool_uses_20250919` or `clear_thinking_20251015`"
            )
    current = _Measured(request, count)
    applied: list[AppliedEdit] = []
    for edit in config.edits:
        if isinstance(edit, ClearToolUsesEdit):
            result = _clear_tool_uses(current, edit)
        else:
            assert isinstance(edit, ClearThinkingEdit)
            result = _clear_thinking(current, edit)
        if result is not None:
            current, done = result
            applied.append(done)
    return current.request, EditedContext(tuple(applied))


@dataclass(frozen=True)
class _ToolUse:
    id: str
    name: str


def _tool_uses(messages: Sequence[InputMessage]) -> list[_ToolUse]:
    return [
        _ToolUse(block.id, block.name)
        for message in messages
        if message.role == "assistant" and not isinstance(message.content, str)
        for block in message.content
        if isinstance(block, ToolUseBlock)
    ]


def _clear_tool_uses(
    current: _Measured[Request], edit: ClearToolUsesEdit
) -> tuple[_Measured[Request], AppliedEdit] | None:
    uses = _tool_uses(current.request.messages)
    keep = edit.keep.value if edit.keep is not None else DEFAULT_KEEP_TOOL_USES
    excluded = set(edit.exclude_tools or ())
    cleared = {use.id: use.name for use in uses[: max(0, len(uses) - keep)] if use.name not in excluded}
    if not cleared:
        return None
    trigger = edit.trigger
    if trigger is None:
        reached = current.tokens >= DEFAULT_TRIGGER_TOKENS
    else:
        reached = (current.tokens if trigger.type == "input_tokens" else len(uses)) >= trigger.value
    if not reached:
        return None
    inputs = edit.clear_tool_inputs

    def clear_input(name: str) -> bool:  # all inputs, none, or the named tools'
        return name in inputs if isinstance(inputs, list) else bool(inputs)

    def edit_block(block: Any) -> Any:
        if isinstance(block, ToolResultBlock) and block.tool_use_id in cleared:
            return block.model_copy(update={"content": CLEARED_RESULT})
        if isinstance(block, ToolUseBlock) and block.id in cleared and clear_input(block.name):
            return block.model_copy(update={"input": {}})
        return block

    after, done = current.edited(
        _with_blocks(current.request, edit_block),
        lambda tokens: ClearedToolUses(cleared_input_tokens=tokens, cleared_tool_uses=len(cleared)),
    )
    if edit.clear_at_least is not None and done.cleared_input_tokens < edit.clear_at_least.value:
        return None
    return after, done


def _clear_thinking(
    current: _Measured[Request], edit: ClearThinkingEdit
) -> tuple[_Measured[Request], AppliedEdit] | None:
    keep = edit.keep
    if keep is None:
        keep = ThinkingTurns(type="thinking_turns", value=DEFAULT_KEEP_THINKING_TURNS)
    if not isinstance(keep, ThinkingTurns):  # "all"
        return None
    request = current.request
    turns = [
        index
        for index, message in enumerate(request.messages)
        if message.role == "assistant" and _thinking_only_in_part(message)
    ]
    cleared = set(turns[: max(0, len(turns) - keep.value)])
    if not cleared:
        return None
    messages = [
        message.model_copy(update={"content": [b for b in message.content if not _is_thinking(b)]})
        if index in cleared else message
        for index, message in enumerate(request.messages)
    ]
    return current.edited(
        request.model_copy(update={"messages": messages}),
        lambda tokens: ClearedThinking(cleared_input_tokens=tokens, cleared_thinking_turns=len(cleared)),
    )


def _is_thinking(block: Any) -> bool:
    return isinstance(block, ThinkingBlock | RedactedThinkingBlock)


def _thinking_only_in_part(message: InputMessage) -> bool:
    """A turn with thinking and something else: dropping its thinking leaves a valid turn."""
    if isinstance(message.content, str):
        return False
    thinking = sum(_is_thinking(block) for block in message.content)
    return 0 < thinking < len(message.content)


def _with_blocks(request: Request, edit_block: Callable[[Any], Any]) -> Request:
    messages = [
        message if isinstance(message.content, str)
        else message.model_copy(update={"content": [edit_block(block) for block in message.content]})
        for message in request.messages
    ]
    return request.model_copy(update={"messages": messages})
