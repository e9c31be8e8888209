"""A `Conversation` → the exact prompt the model sees, through its chat template.

Client text goes into the template as placeholders, which are swapped back afterwards, so
the result says which spans came from the client. Those spans are tokenized without parsing
control tokens: a message containing `<|im_end|>` cannot end its own turn. The placeholders
carry a per-render nonce, so client text cannot forge one either.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from antiphon.chat.conversation import TURN_JOINER, Conversation, Turn
from antiphon.chat.template import ChatTemplate, TemplateRenderError
from antiphon.chat.tool_calls.base import ToolFormat
from antiphon.chat.tool_calls.generic import GenericToolFormat
from antiphon.chat.tool_specs import ToolSpec
from antiphon.engine.base import Prompt, PromptSpan


@dataclass(frozen=True)
class PromptLayout:
    """How the conversation is laid out beyond its messages: the tools the model is shown,
    the format they are written in, and text that opens the answer (a thinking section)."""

    tools: tuple[ToolSpec, ...] = ()
    tool_format: ToolFormat = field(default_factory=GenericToolFormat)
    generation_suffix: str = ""
    system_notes: tuple[str, ...] = ()  # instructions of ours, after the client's system
    variables: tuple[tuple[str, Any], ...] = ()  # for the template, e.g. enable_thinking


class _Placeholders:
    def __init__(self) -> None:
        nonce = secrets.token_hex(6)
        self._values: list[str] = []
        self._prefix = f"\ue000{nonce}:"
        self._pattern = re.compile(re.escape(self._prefix) + r"(\d+)\ue001")

    def hold(self, text: str) -> str:
        """A placeholder for `text`. Its leading and trailing whitespace stay outside, as
        real text, so a template's `| trim` (Gemma, Llama 3) still trims it."""
        core = text.strip()
        if not core:  # nothing to protect; templates may test for emptiness
            return text
        start = text.index(core)
        self._values.append(core)
        return text[:start] + self.last_marker + text[start + len(core) :]

    @property
    def last_marker(self) -> str:
        """The bare placeholder of the text held last."""
        return f"{self._prefix}{len(self._values) - 1}\ue001"

    def spans(self, rendered: str) -> Prompt:
        spans: list[PromptSpan] = []
        position = 0
        for match in self._pattern.finditer(rendered):
            if match.start() > position:
                spans.append(PromptSpan(rendered[position : match.start()], from_client=False))
            spans.append(PromptSpan(self._values[int(match.group(1))], from_client=True))
            position = match.end()
        if position < len(rendered):
            spans.append(PromptSpan(rendered[position:], from_client=False))
        return tuple(spans)


def _fold_inner_system_turns(turns: tuple[Turn, ...]) -> tuple[Turn, ...]:
    """For templates that allow a system message only first: put each later system
    instruction at the start of the user turn after it (or after the turn before it)."""
    folded: list[Turn] = []
    pending: list[str] = []
    for turn in turns:
        if turn.role == "system":
            pending.append(turn.content)
        elif turn.role == "user" and pending:
            folded.append(Turn("user", TURN_JOINER.join([*pending, turn.content]), (), turn.tool_results))
            pending = []
        else:
            folded.append(turn)
    if pending:
        folded.append(Turn("user", TURN_JOINER.join(pending)))
    merged: list[Turn] = []
    for turn in folded:
        if merged and merged[-1].role == turn.role:
            merged[-1] = merged[-1].merged(turn)
        else:
            merged.append(turn)
    return tuple(merged)


def _render(
    template: ChatTemplate,
    conversation: Conversation,
    turns: tuple[Turn, ...],
    layout: PromptLayout,
) -> Prompt:
    held = _Placeholders()
    given = layout.tool_format.template_input(
        conversation.system, turns, layout.tools, held.hold, layout.system_notes
    )
    messages, variables = given.messages, {**dict(layout.variables), **given.variables}
    prefill = conversation.prefill
    if prefill is None:
        rendered = template.render(messages, add_generation_prompt=True, **variables)
        return held.spans(rendered + layout.generation_suffix)
    if not prefill.strip():
        return held.spans(template.render(messages, True, **variables) + prefill)
    # Render the prefill as the final assistant message, then cut the text after it: the
    # template's own end-of-turn markers must not follow, or the model would start a new turn.
    wrapped = held.hold(prefill)
    marker = held.last_marker
    final = {"role": "assistant", "content": wrapped}
    full = template.render([*messages, final], False, **variables)
    cut = full.rfind(marker)
    if cut < 0:  # the template dropped it: continue from a fresh assistant turn instead
        full = template.render(messages, True, **variables) + wrapped
        cut = full.rfind(marker)
    trailing = prefill[len(prefill.rstrip()) :]  # the answer continues after it, if any
    return held.spans(full[: cut + len(marker)] + trailing)


def render_prompt(
    template: ChatTemplate, conversation: Conversation, layout: PromptLayout | None = None
) -> Prompt:
    layout = layout or PromptLayout()
    turns = conversation.turns
    try:
        return _render(template, conversation, turns, layout)
    except TemplateRenderError:
        if not any(turn.role == "system" for turn in turns):
            raise
    return _render(template, conversation, _fold_inner_system_turns(turns), layout)
