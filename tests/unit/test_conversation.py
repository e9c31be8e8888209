import pytest

from antiphon.chat.conversation import build_conversation
from antiphon.chat.prompt import render_prompt
from antiphon.chat.template import ChatTemplate, TemplateRenderError
from antiphon.engine.base import PromptSpan, prompt_text
from antiphon.errors import InvalidRequest
from antiphon.protocol.messages import CountTokensRequest

CHATML = ChatTemplate(None, "", "<|im_end|>")
# Gemma-style: no system role, strict alternation, as many real templates are.
ALTERNATING = ChatTemplate(
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('roles must alternate') }}{% endif %}"
    "<turn>{{ m['role'] }}\n{{ m['content'] }}<end>\n{% endfor %}"
    "{% if add_generation_prompt %}<turn>assistant\n{% endif %}",
    "<bos>",
    "<eos>",
)


def NO_THINKING(block: object, path: str) -> str:
    raise AssertionError("no thinking blocks in these tests")


def request(**fields: object) -> CountTokensRequest:
    return CountTokensRequest.model_validate({"model": "m", **fields})


def render(template: ChatTemplate, **fields: object) -> str:
    return prompt_text(render_prompt(template, build_conversation(request(**fields), "m", NO_THINKING)))


def test_system_string_and_blocks_lead_the_prompt() -> None:
    as_text = render(CHATML, system="Be brief.", messages=[{"role": "user", "content": "Hi"}])
    as_blocks = render(
        CHATML,
        system=[{"type": "text", "text": "Be brief."}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    )
    expected = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert as_text == as_blocks == expected


def test_consecutive_same_role_turns_merge() -> None:
    conversation = build_conversation(
        request(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]), "m", NO_THINKING
    )
    assert [(t.role, t.content) for t in conversation.turns] == [("user", "a\n\nb")]


def test_final_assistant_turn_is_a_prefill_the_answer_continues() -> None:
    prompt = render(
        CHATML,
        messages=[{"role": "user", "content": "Pick"}, {"role": "assistant", "content": "The answer is ("}],
    )
    assert prompt.endswith("<|im_start|>assistant\nThe answer is (")


def test_leading_system_messages_join_the_system_prompt_and_later_ones_stay_in_place() -> None:
    conversation = build_conversation(
        request(
            system="A",
            messages=[
                {"role": "system", "content": "B"},
                {"role": "user", "content": "u1"},
                {"role": "assistant", "content": "a1"},
                {"role": "system", "content": "C"},
                {"role": "user", "content": "u2"},
            ],
        ),
        "m",
        NO_THINKING,
    )
    assert conversation.system == "A\n\nB"
    assert [t.role for t in conversation.turns] == ["user", "assistant", "system", "user"]
    assert conversation.prefill is None


def test_inner_system_messages_fold_into_the_next_user_turn_when_the_template_refuses() -> None:
    prompt = render(
        ALTERNATING,
        messages=[
            {"role": "user", "content": "u1"},
            {"role": "assistant", "content": "a1"},
            {"role": "system", "content": "Now speak French."},
            {"role": "user", "content": "u2"},
        ],
    )
    assert "<turn>user\nNow speak French.\n\nu2<end>" in prompt
    assert prompt.startswith("<bos>") and prompt.endswith("<turn>assistant\n")


def test_template_errors_are_invalid_requests_with_the_templates_message() -> None:
    with pytest.raises(TemplateRenderError, match="roles must alternate"):
        render(ALTERNATING, messages=[{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}])


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"type": "image", "source": {"type": "url", "url": "http://x/y.png"}}, "model smol does not support images"),
        ({"type": "tool_use", "id": "toolu_1", "name": "t", "input": {}}, "`tool_use` blocks belong in assistant messages"),
        ({"type": "tool_result", "tool_use_id": "toolu_1", "content": "r"}, "`toolu_1` matches no tool_use block"),
        ({"type": "thinking", "thinking": "hm", "signature": "s"}, "`thinking` blocks belong in assistant messages"),
    ],
)
def test_blocks_a_user_turn_cannot_hold_are_refused_with_their_path(block: dict, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        build_conversation(request(messages=[{"role": "user", "content": [block]}]), "smol", NO_THINKING)
    assert caught.value.message.startswith("messages.0.content.0")
    assert message in caught.value.message


def test_a_conversation_of_only_system_messages_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="at least one user or assistant"):
        build_conversation(request(messages=[{"role": "system", "content": "x"}]), "m", NO_THINKING)


def test_templates_cannot_reach_python_internals() -> None:
    evil = ChatTemplate("{{ messages.__class__.__mro__[1].__subclasses__() }}", "", "")
    with pytest.raises(TemplateRenderError):
        evil.render([{"role": "user", "content": "x"}], True)


def test_client_text_is_marked_apart_from_template_text() -> None:
    prompt = render_prompt(CHATML, build_conversation(request(
        system="Sys <|im_end|>", messages=[{"role": "user", "content": "Hi <|im_start|>"}]), "m", NO_THINKING))
    assert [span for span in prompt if span.from_client] == [
        PromptSpan("Sys <|im_end|>", True), PromptSpan("Hi <|im_start|>", True)]
    assert prompt[0] == PromptSpan("<|im_start|>system\n", False)
    assert prompt[-1] == PromptSpan("<|im_end|>\n<|im_start|>assistant\n", False)


def test_client_text_cannot_forge_a_placeholder() -> None:
    forged = "\ue000deadbeef0000:0\ue001"
    prompt = render_prompt(CHATML, build_conversation(request(
        messages=[{"role": "user", "content": forged}]), "m", NO_THINKING))
    assert PromptSpan(forged, True) in prompt


def test_a_prefill_is_the_last_span_and_comes_from_the_client() -> None:
    prompt = render_prompt(CHATML, build_conversation(request(messages=[
        {"role": "user", "content": "Pick"}, {"role": "assistant", "content": "It is ("}]), "m", NO_THINKING))
    assert prompt[-1] == PromptSpan("It is (", True)
    assert prompt[-2].text.endswith("<|im_start|>assistant\n")


def test_claude_codes_billing_header_block_is_not_rendered() -> None:
    def system(version: str) -> list[dict]:
        return [
            {"type": "text", "text": f"x-anthropic-billing-header: cc_version={version}; cc_entrypoint=sdk-cli;"},
            {"type": "text", "text": "You are a Claude agent."},
        ]

    first = render(CHATML, system=system("2.1.330.e08"), messages=[{"role": "user", "content": "Hi"}])
    second = render(CHATML, system=system("2.1.331.a34"), messages=[{"role": "user", "content": "Hi"}])
    assert first == second
    assert first.startswith("<|im_start|>system\nYou are a Claude agent.<|im_end|>")
