"""A Messages request → the plain conversation a chat template renders.

Rules of the API applied here: `system` (string or text blocks) leads; `role: "system"`
messages at the start join it, later ones stay in place; consecutive user or assistant turns
merge into one; a final assistant turn is a prefill that the answer continues. Blocks this
server cannot give meaning to yet are refused with a message naming the block and the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from antiphon.errors import InvalidRequest
from antiphon.protocol.content import TextBlock
from antiphon.protocol.messages import CountTokensRequest, InputMessage

TURN_JOINER = "\n\n"


@dataclass(frozen=True)
class Turn:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class Conversation:
    system: str | None
    turns: tuple[Turn, ...]
    prefill: str | None


def _message_text(message: InputMessage, index: int, model_id: str) -> str:
    if isinstance(message.content, str):
        return message.content
    parts: list[str] = []
    for position, block in enumerate(message.content):
        if not isinstance(block, TextBlock):
            raise InvalidRequest(
                f"messages.{index}.content.{position}: `{block.type}` blocks are not "
                f"supported by model {model_id}; send text blocks"
            )
        parts.append(block.text)
    return "".join(parts)


def _system_text(system: str | Sequence[TextBlock] | None) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    return "\n".join(block.text for block in system) or None


def check_supported_features(request: CountTokensRequest, model_id: str) -> None:
    """Refuse request features that would otherwise be silently ignored."""
    if request.tools:
        raise InvalidRequest(f"tools: tool use is not supported by model {model_id}")
    if request.thinking is not None and request.thinking.type == "enabled":
        raise InvalidRequest(f"thinking: extended thinking is not supported by model {model_id}")
    if request.output_config is not None and request.output_config.format is not None:
        raise InvalidRequest(
            f"output_config.format: structured output is not supported by model {model_id}"
        )


def build_conversation(request: CountTokensRequest, model_id: str) -> Conversation:
    check_supported_features(request, model_id)
    system_parts = [text] if (text := _system_text(request.system)) else []
    turns: list[Turn] = []
    for index, message in enumerate(request.messages):
        text = _message_text(message, index, model_id)
        if message.role == "system" and not turns:
            if text:
                system_parts.append(text)
            continue
        if turns and turns[-1].role == message.role and message.role != "system":
            turns[-1] = Turn(message.role, turns[-1].content + TURN_JOINER + text)
        else:
            turns.append(Turn(message.role, text))
    if not any(turn.role != "system" for turn in turns):
        raise InvalidRequest("messages: at least one user or assistant message is required")
    prefill: str | None = None
    if turns[-1].role == "assistant":
        prefill = turns.pop().content or None
    system = TURN_JOINER.join(system_parts) if system_parts else None
    return Conversation(system=system, turns=tuple(turns), prefill=prefill)
