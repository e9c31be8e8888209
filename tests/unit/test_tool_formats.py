"""Tools, calls and results written into prompts: the generic format through any template,
and a tool-aware (Hermes/Qwen-style) template through its own `tools` and `tool_calls`."""

from __future__ import annotations

import json

from antiphon.chat.conversation import build_conversation
from antiphon.chat.prompt import PromptLayout, render_prompt
from antiphon.chat.template import ChatTemplate
from antiphon.chat.tool_calls.generic import GenericToolFormat
from antiphon.chat.tool_calls.hermes import HermesToolFormat, template_knows_tools
from antiphon.chat.tool_specs import read_tools
from antiphon.engine.base import prompt_text
from antiphon.protocol.messages import CountTokensRequest
from tests.unit.test_conversation import CHATML, NO_THINKING

# Written for these tests in the shape tool-aware templates share: `tools` rendered with
# tojson, assistant `tool_calls`, and `tool` messages for results.
HERMES_STYLE = ChatTemplate(
    "{% if tools %}<|im_start|>system\n{% if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "<tools>{% for tool in tools %}\n{{ tool | tojson }}{% endfor %}\n</tools>\n"
    "Call tools as <tool_call>{\"name\": ..., \"arguments\": ...}</tool_call><|im_end|>\n{% endif %}"
    "{% for m in messages %}{% if m.role == 'system' and tools %}{% elif m.role == 'tool' %}"
    "<|im_start|>user\n<tool_response>\n{{ m.content }}\n</tool_response><|im_end|>\n"
    "{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}"
    "{% for call in m.tool_calls or [] %}\n<tool_call>\n{\"name\": \"{{ call.function.name }}\", "
    "\"arguments\": {{ call.function.arguments | tojson }}}\n</tool_call>{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    "",
    "<|im_end|>",
)
TOOL = {
    "name": "lookup",
    "description": 'Find "things" <|im_end|>',
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
}
MESSAGES = [
    {"role": "user", "content": "Find it"},
    {"role": "assistant", "content": [
        {"type": "text", "text": "Looking."},
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": 'a "quote" <|im_end|>'}},
    ]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "found <|im_start|>", "is_error": True},
        {"type": "text", "text": "Thanks"},
    ]},
]


def render(template: ChatTemplate, tool_format: object) -> tuple[str, list[str]]:
    request = CountTokensRequest.model_validate(
        {"model": "m", "system": "Be brief.", "tools": [TOOL], "messages": MESSAGES}
    )
    layout = PromptLayout(tools=read_tools(request.tools, "test-model"), tool_format=tool_format)  # type: ignore[arg-type]
    prompt = render_prompt(template, build_conversation(request, "m", NO_THINKING), layout)
    return prompt_text(prompt), [span.text for span in prompt if span.from_client]


def test_generic_format_lists_tools_and_writes_calls_and_results_as_tags() -> None:
    text, client = render(CHATML, GenericToolFormat())
    assert text.startswith("<|im_start|>system\n# Tools")
    assert "</tool_call>\nEach result comes back in a <tool_response> element.\n\nBe brief.<|im_end|>" in text
    listing = json.loads(text.split("<tools>", 1)[1].split("</tools>", 1)[0])
    assert listing == [{"name": "lookup", "description": TOOL["description"], "parameters": TOOL["input_schema"]}]
    assert '<tool_call>[{"name": "lookup", "arguments": {"q": "..."}}]</tool_call>' in text  # the example
    assert '<tool_call>[{"name": "lookup", "arguments": {"q": "a \\"quote\\" <|im_end|>"}}]</tool_call>' in text
    assert '<tool_response name="lookup" is_error="true">\nfound <|im_start|>\n</tool_response>\nThanks' in text
    # Client data (descriptions, inputs, results) is never parsed for control tokens.
    assert any("<|im_end|>" in span for span in client)
    assert any("found <|im_start|>" == span for span in client)


def test_a_tool_aware_template_gets_tools_calls_and_tool_messages() -> None:
    assert template_knows_tools(HERMES_STYLE.source) and not template_knows_tools(CHATML.source)
    text, client = render(HERMES_STYLE, HermesToolFormat())
    tools_line = text.split("<tools>", 1)[1].split("</tools>", 1)[0]
    assert json.loads(tools_line)["function"]["description"] == 'Find "things" <|im_end|>'
    call = text.split("<tool_call>\n", 1)[1].split("\n</tool_call>", 1)[0]
    assert json.loads(call) == {"name": "lookup", "arguments": {"q": 'a "quote" <|im_end|>'}}
    assert "<tool_response>\nError: found <|im_start|>\n</tool_response>" in text
    assert text.endswith("<|im_start|>user\nThanks<|im_end|>\n<|im_start|>assistant\n")
    # Strings inside JSON are held in their escaped form, so swapping them back keeps the
    # JSON valid, and the control-token text in them stays client text.
    assert 'a \\"quote\\" <|im_end|>' in client
