"""A Messages request → the conversation a chat template renders.

Rules of the API applied here: `system` (string or text blocks) leads; `role: "system"`
messages at the start join it, later ones stay in place; consecutive user or assistant turns
merge into one; a final assistant turn is a prefill that the answer continues. Thinking from
earlier turns is dropped, as the hosted API does, except in the assistant turns of the tool
loop in progress (after the last user turn that is more than tool results).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from antiphon.chat.message_blocks import BlockReader, OpenThinking, ToolCall, ToolResult
from antiphon.errors import InvalidRequest
from antiphon.protocol.content import TextBlock
from antiphon.protocol.messages import CountTokensRequest

TURN_JOINER = "\n\n"


@dataclass(frozen=True)
class Turn:
    role: str  # "system" | "user" | "assistant"
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()
    thinking: str | None = None

    def merged(self, later: Turn) -> Turn:
        thinking = [part for part in (self.thinking, later.thinking) if part]
        return Turn(
            self.role,
            TURN_JOINER.join(part for part in (self.content, later.content) if part),
            self.tool_calls + later.tool_calls,
            self.tool_results + later.tool_results,
            TURN_JOINER.join(thinking) or None,
        )


@dataclass(frozen=True)
class Conversation:
    system: str | None
    turns: tuple[Turn, ...]
    prefill: str | None
    tool_references: tuple[str, ...] = ()  # deferred tools that tool results made available


# Claude Code opens `system` with a block like `x-anthropic-billing-header: cc_version=2.1.330.e08;
# cc_entrypoint=sdk-cli;`: metadata for the hosted API's billing, no instruction for the model,
# and different from run to run (it would defeat any prefix reuse). It is not rendered.
_BILLING_HEADER = re.compile(r"x-anthropic-billing-header:[^\n]*")


def _system_text(system: str | Sequence[TextBlock] | None) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    kept = [block.text for block in system if not _BILLING_HEADER.fullmatch(block.text.strip())]
    return "\n".join(kept) or None


def _refuse_open_tool_calls(turn: Turn, index: int) -> None:
    if turn.tool_calls:
        raise InvalidRequest(
            f"messages.{index}: the conversation ends with tool_use blocks; send their "
            "tool_result blocks in a user message"
        )
    if turn.thinking:
        raise InvalidRequest(
            f"messages.{index}: a final assistant message cannot hold thinking blocks; "
            "it is continued as a prefill"
        )


def _keep_thinking_of_current_tool_loop(turns: list[Turn]) -> None:
    """Drop thinking before the last user turn that is not only tool results."""
    for index in range(len(turns) - 1, -1, -1):
        turn = turns[index]
        if turn.role == "user" and (turn.content or not turn.tool_results):
            for earlier in range(index):
                if turns[earlier].thinking:
                    turns[earlier] = replace(turns[earlier], thinking=None)
            return


def build_conversation(
    request: CountTokensRequest, model_id: str, open_thinking: OpenThinking
) -> Conversation:
    reader = BlockReader(model_id, open_thinking)
    system_parts = [text] if (text := _system_text(request.system)) else []
    turns: list[Turn] = []
    references: list[str] = []
    for index, message in enumerate(request.messages):
        for role, parts in reader.read(message, index):
            references.extend(parts.tool_references)
            turn = Turn(
                role,
                "".join(parts.text),
                tuple(parts.calls),
                tuple(parts.results),
                TURN_JOINER.join(parts.thinking) or None,
            )
            if role == "system" and not turns:
                if turn.content:
                    system_parts.append(turn.content)
                continue
            if turns and turns[-1].role == role and role != "system":
                turns[-1] = turns[-1].merged(turn)
            else:
                turns.append(turn)
    if not any(turn.role != "system" for turn in turns):
        raise InvalidRequest("messages: at least one user or assistant message is required")
    prefill: str | None = None
    if turns[-1].role == "assistant":
        _refuse_open_tool_calls(turns[-1], len(request.messages) - 1)
        prefill = turns.pop().content or None
    _keep_thinking_of_current_tool_loop(turns)
    system = TURN_JOINER.join(system_parts) if system_parts else None
    return Conversation(system, tuple(turns), prefill, tuple(dict.fromkeys(references)))
