"""A `Conversation` → the exact prompt text the model sees, through its chat template."""

from __future__ import annotations

from typing import Any

from antiphon.chat.conversation import TURN_JOINER, Conversation, Turn
from antiphon.chat.template import ChatTemplate, TemplateRenderError


def _as_template_messages(system: str | None, turns: tuple[Turn, ...]) -> list[dict[str, Any]]:
    messages = [{"role": "system", "content": system}] if system else []
    messages.extend({"role": turn.role, "content": turn.content} for turn in turns)
    return messages


def _fold_inner_system_turns(turns: tuple[Turn, ...]) -> tuple[Turn, ...]:
    """For templates that allow a system message only first: put each later system
    instruction at the start of the user turn after it (or after the turn before it)."""
    folded: list[Turn] = []
    pending: list[str] = []
    for turn in turns:
        if turn.role == "system":
            pending.append(turn.content)
        elif turn.role == "user" and pending:
            folded.append(Turn("user", TURN_JOINER.join([*pending, turn.content])))
            pending = []
        else:
            folded.append(turn)
    if pending:
        folded.append(Turn("user", TURN_JOINER.join(pending)))
    merged: list[Turn] = []
    for turn in folded:
        if merged and merged[-1].role == turn.role:
            merged[-1] = Turn(turn.role, merged[-1].content + TURN_JOINER + turn.content)
        else:
            merged.append(turn)
    return tuple(merged)


def _render(template: ChatTemplate, system: str | None, turns: tuple[Turn, ...], prefill: str | None) -> str:
    messages = _as_template_messages(system, turns)
    if prefill is None:
        return template.render(messages, add_generation_prompt=True)
    # Render the prefill as the final assistant message, then cut the text after it: the
    # template's own end-of-turn markers must not follow, or the model would start a new turn.
    full = template.render([*messages, {"role": "assistant", "content": prefill}], False)
    for candidate in (prefill, prefill.rstrip()):
        cut = full.rfind(candidate) if candidate else -1
        if cut >= 0:
            return full[: cut + len(candidate)]
    return template.render(messages, add_generation_prompt=True) + prefill


def render_prompt(template: ChatTemplate, conversation: Conversation) -> str:
    turns = conversation.turns
    try:
        return _render(template, conversation.system, turns, conversation.prefill)
    except TemplateRenderError:
        if not any(turn.role == "system" for turn in turns):
            raise
    return _render(template, conversation.system, _fold_inner_system_turns(turns), conversation.prefill)
