"""A Messages request → everything generation needs: the prompt, the grammar the answer
must follow, the thinking section, and how to read the output back.

`check_request` holds the refusals that need no rendering; `plan_message` runs it, then
renders (documents, signatures, the template). All of it is CPU work on client input
(schemas, PDFs), so callers run it in a worker thread, never on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from antiphon.chat.constraints import answer_grammar, check_enforceable, check_strict_tools
from antiphon.chat.conversation import build_conversation
from antiphon.chat.fetchable_urls import fetchable_urls
from antiphon.chat.output_parser import OutputParser
from antiphon.chat.prompt import PromptLayout, render_prompt
from antiphon.chat.thinking_tags import THINK_CLOSE, THINK_OPEN, ThinkingSplitter
from antiphon.chat.tool_calls.generic import GenericToolFormat
from antiphon.chat.tool_calls.hermes import HermesToolFormat, template_knows_tools
from antiphon.chat.tool_calls.tagged_parser import TaggedCallParser
from antiphon.chat.tool_specs import (
    ToolPolicy,
    ToolSpec,
    canonical_json,
    read_tool_policy,
    read_tools,
    visible_tools,
)
from antiphon.engine.base import Grammar, Prompt, ThinkingControl
from antiphon.errors import InvalidRequest
from antiphon.protocol.content import RedactedThinkingBlock, ServerToolResultBlock, ThinkingBlock
from antiphon.protocol.messages import (
    CountTokensRequest,
    InputMessage,
    MessagesRequest,
    ThinkingAdaptive,
    ThinkingEnabled,
)
from antiphon.services.models import ServedModel
from antiphon.services.response_builder import ThinkingDisplay
from antiphon.services.thinking_seal import InvalidThinking, ThinkingSeal

MIN_THINKING_BUDGET = 1024
# Models that do not reason in tags on their own are asked to, and their answer is opened
# with the tag, so that they think first.
THINKING_NOTE = (
    "Think before you answer: reason step by step between <think> and </think>, "
    "then write your answer after </think>."
)


@dataclass(frozen=True)
class MessagePlan:
    prompt: Prompt
    grammar: Grammar | None
    thinking: ThinkingControl | None
    display: ThinkingDisplay
    policy: ToolPolicy
    tools_shown: bool
    hidden_stops: tuple[str, ...]  # stop sequences of our own, reported as end_turn
    server_tools: frozenset[str] = frozenset()  # names of the tools this server runs

    def output_parser(self) -> OutputParser:
        splitter = ThinkingSplitter() if self.thinking is not None else None
        calls = TaggedCallParser() if self.tools_shown and self.policy.mode != "none" else None
        return OutputParser(splitter, calls)


def _reasons_natively(model: ServedModel) -> bool:
    return THINK_OPEN in model.template.source


def _thinking_budget(request: CountTokensRequest, model: ServedModel) -> tuple[bool, int | None]:
    """Whether the answer opens with a thinking section, and its budget."""
    thinking = request.thinking
    if isinstance(thinking, ThinkingAdaptive):  # the model decides: those that reason in tags do
        return _reasons_natively(model), None
    if not isinstance(thinking, ThinkingEnabled):  # none, disabled, or between tools
        return False, None
    if thinking.budget_tokens < MIN_THINKING_BUDGET:
        raise InvalidRequest(
            f"thinking.budget_tokens: must be at least {MIN_THINKING_BUDGET}, "
            f"got {thinking.budget_tokens}"
        )
    if isinstance(request, MessagesRequest) and thinking.budget_tokens >= request.max_tokens:
        raise InvalidRequest(
            f"thinking.budget_tokens: must be less than max_tokens ({request.max_tokens}), "
            f"got {thinking.budget_tokens}"
        )
    return True, thinking.budget_tokens


def _display(request: CountTokensRequest) -> ThinkingDisplay:
    thinking = request.thinking
    display = getattr(thinking, "display", None)
    return "omitted" if display == "omitted" else "summarized"


def check_request(
    request: CountTokensRequest, model: ServedModel
) -> tuple[tuple[ToolSpec, ...], ToolPolicy, bool, int | None]:
    """Refusals that need no rendering: tools, tool_choice, thinking and their combinations."""
    tools = read_tools(request.tools, model.card.id)
    policy = read_tool_policy(request, tools)
    thinking, budget = _thinking_budget(request, model)
    if thinking and policy.must_call:
        raise InvalidRequest(
            "thinking: Thinking may not be enabled when tool_choice forces tool use; "
            'use tool_choice {"type": "auto"} or disable thinking'
        )
    output_format = request.output_config.format if request.output_config else None
    if output_format is not None:
        check_enforceable(canonical_json(output_format.schema_), "output_config.format.schema")
    check_strict_tools(tools)
    final = request.messages[-1]
    constrained = thinking or policy.must_call or output_format is not None
    if final.role == "assistant" and constrained and not _ends_with_server_result(final):
        raise InvalidRequest(
            f"messages.{len(request.messages) - 1}: a final assistant message (prefill) cannot "
            "be combined with thinking, a forced tool_choice or output_config.format"
        )
    return tools, policy, thinking, budget


def _ends_with_server_result(message: InputMessage) -> bool:
    """A turn a server tool's result closes is continued as a new answer, not a prefill."""
    return not isinstance(message.content, str) and bool(message.content) and isinstance(
        message.content[-1], ServerToolResultBlock
    )


def plan_message(request: CountTokensRequest, model: ServedModel, seal: ThinkingSeal) -> MessagePlan:
    tools, policy, thinking, budget = check_request(request, model)

    def open_thinking(block: ThinkingBlock | RedactedThinkingBlock, path: str) -> str:
        try:
            if isinstance(block, ThinkingBlock):
                return seal.verify(block.thinking, block.signature)
            return seal.unredact(block.data)
        except InvalidThinking as error:
            raise error.at(path) from None

    conversation = build_conversation(request, model.card.id, open_thinking)
    shown = _with_fetchable_urls(
        visible_tools(tools, conversation.tool_references, policy.forced_name), request
    )
    source = model.template.source
    tool_format = HermesToolFormat() if template_knows_tools(source) else GenericToolFormat()
    native = _reasons_natively(model)
    layout = PromptLayout(
        tools=shown,
        tool_format=tool_format,
        generation_suffix=f"{THINK_OPEN}\n" if thinking else "",
        system_notes=(THINKING_NOTE,) if thinking and not native else (),
        variables=(("enable_thinking", thinking),) if native else (),
    )
    output_format = request.output_config.format if request.output_config else None
    grammar = answer_grammar(
        tool_format, shown, policy, output_format.schema_ if output_format else None
    )
    control = None
    if thinking:
        control = ThinkingControl(THINK_CLOSE, f"\n{THINK_CLOSE}\n\n", budget)
    hidden = (tool_format.open_tag,) if shown and policy.mode == "none" else ()
    return MessagePlan(
        prompt=render_prompt(model.template, conversation, layout),
        grammar=grammar,
        thinking=control,
        display=_display(request),
        policy=policy,
        tools_shown=bool(shown),
        hidden_stops=hidden,
        server_tools=frozenset(tool.name for tool in tools if tool.server),
    )


def _with_fetchable_urls(tools: tuple[ToolSpec, ...], request: CountTokensRequest) -> tuple[ToolSpec, ...]:
    """Web fetch's `url` narrowed to the URLs the conversation holds, so that the model's
    call names one of them (with none, any string parses, and the fetch is refused)."""
    declared = next((tool for tool in request.tools or () if tool.name == "web_fetch"), None)
    if declared is None or not any(tool.server and tool.name == "web_fetch" for tool in tools):
        return tools
    urls = fetchable_urls(request, declared.url_sources)
    if not urls:
        return tools
    narrowed: list[ToolSpec] = []
    for tool in tools:
        if tool.server and tool.name == "web_fetch":
            schema = dict(tool.input_schema)
            schema["properties"] = {"url": {**tool.input_schema["properties"]["url"], "enum": list(urls)}}
            tool = tool.with_schema(schema)
        narrowed.append(tool)
    return tuple(narrowed)
