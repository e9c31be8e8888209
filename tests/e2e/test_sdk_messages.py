"""The official `anthropic` SDK (newest) against a real server, unchanged."""

from __future__ import annotations

import anthropic
import pytest

from tests.conftest import Server
from tests.e2e.reference_model import reference_answer, reference_continuation, same_opening

GREEDY = {"temperature": 0}


@pytest.fixture(scope="module")
def client(server: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)


def ask(client: anthropic.Anthropic, text: str, **kwargs: object) -> anthropic.types.Message:
    return client.messages.create(
        model="smollm2-135m-instruct",
        max_tokens=kwargs.pop("max_tokens", 48),  # type: ignore[arg-type]
        messages=[{"role": "user", "content": text}],
        extra_body=kwargs.pop("extra_body", GREEDY),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def test_create_answers_coherently(client: anthropic.Anthropic) -> None:
    message = ask(client, "What is the capital of France? Answer in one sentence.", max_tokens=40)
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.model == "smollm2-135m-instruct"
    assert message.stop_reason in ("end_turn", "max_tokens")
    text = message.content[0].text
    question = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
    assert same_opening(text, reference_answer(question, 40)), text
    assert message.usage.input_tokens > 10 and 0 < message.usage.output_tokens <= 40


def test_greedy_decoding_is_reproducible(client: anthropic.Anthropic) -> None:
    first = ask(client, "Name three colours.")
    second = ask(client, "Name three colours.")
    assert first.content[0].text == second.content[0].text


def test_stream_helper_yields_the_same_text_as_the_final_message(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="smollm2-135m-instruct",
        max_tokens=40,
        messages=[{"role": "user", "content": "Say hello to the world."}],
        extra_body=GREEDY,
    ) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed and final.content[0].text == streamed
    assert final.stop_reason in ("end_turn", "max_tokens")
    assert final.usage.output_tokens > 0
    unstreamed = ask(client, "Say hello to the world.", max_tokens=40)
    assert unstreamed.content[0].text == streamed


def test_stop_sequence_ends_the_answer_before_it(client: anthropic.Anthropic) -> None:
    prompt = "Write two sentences about the sea."
    full = ask(client, prompt, max_tokens=60).content[0].text
    words = full.split()
    assert len(words) > 6
    stop = " " + words[4]
    message = ask(client, prompt, max_tokens=60, stop_sequences=[stop])
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == stop
    assert message.content[0].text == full[: full.index(stop)]


def test_prefill_is_continued_not_repeated(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="smollm2-135m-instruct",
        max_tokens=20,
        messages=[
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "The capital of France is"},
        ],
        extra_body=GREEDY,
    )
    text = message.content[0].text
    assert not text.startswith("The capital of France is")
    expected = reference_continuation([{"role": "user", "content": "What is the capital of France?"}],
                                      "The capital of France is", 20)
    assert same_opening(text, expected), (text, expected)


def test_system_prompt_and_mid_conversation_system_messages(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="smollm2-135m-instruct",
        max_tokens=20,
        system=[{"type": "text", "text": "You are terse."}],
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "What colour is the sky?"},
        ],
        extra_body=GREEDY,
    )
    assert message.content and message.content[0].text.strip()


def test_count_tokens_matches_the_usage_of_generation(client: anthropic.Anthropic) -> None:
    request = {
        "model": "smollm2-135m-instruct",
        "system": "Be kind.",
        "messages": [{"role": "user", "content": "Tell me a fact about owls."}],
    }
    counted = client.messages.count_tokens(**request)  # type: ignore[arg-type]
    message = client.messages.create(max_tokens=5, extra_body=GREEDY, **request)  # type: ignore[arg-type]
    assert counted.input_tokens == message.usage.input_tokens > 0


def test_huge_max_tokens_is_clamped_to_the_window(client: anthropic.Anthropic) -> None:
    message = ask(client, "Count from 1 to 5.", max_tokens=16_000)
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens + message.usage.output_tokens <= 2048


def test_sampling_parameters_are_honoured(client: anthropic.Anthropic) -> None:
    extra = {"temperature": 1.0, "top_k": 1, "top_p": 0.9, "seed": 7}
    with_top_k_1 = ask(client, "Name a fruit.", extra_body=extra)
    greedy = ask(client, "Name a fruit.")
    assert with_top_k_1.content[0].text == greedy.content[0].text  # top_k=1 is greedy


def test_max_tokens_zero_returns_no_content(client: anthropic.Anthropic) -> None:
    message = ask(client, "Hello", max_tokens=0)
    assert message.content == [] and message.usage.output_tokens == 0
    assert message.stop_reason == "max_tokens"


def test_models_list_paginates_and_retrieve_resolves_aliases(client: anthropic.Anthropic) -> None:
    ids = [model.id for model in client.models.list()]
    assert sorted(ids) == ["smol-copy", "smollm2-135m-instruct"]
    first_page = client.models.list(limit=1)
    assert len(first_page.data) == 1 and first_page.has_more
    assert [m.id for m in first_page.iter_pages().__next__().data] == [first_page.data[0].id]
    all_by_paging = [model.id for model in client.models.list(limit=1)]
    assert sorted(all_by_paging) == sorted(ids)
    model = client.models.retrieve("smollm2-135m-instruct")
    # --ctx 2048: prompts up to 2047 tokens; answers up to 4096 but never past the window.
    assert model.type == "model" and model.display_name
    assert model.max_input_tokens == 2047 and model.max_tokens == 2047
    assert client.models.retrieve("claude-sonnet-4-5").id == "smollm2-135m-instruct"


def test_a_hosted_model_name_is_served_by_the_default_model(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-haiku-4-5", max_tokens=5,
        messages=[{"role": "user", "content": "Hi"}], extra_body=GREEDY,
    )
    assert message.model == "smollm2-135m-instruct"


def test_the_second_model_serves_under_its_own_id(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="smol-copy", max_tokens=5, messages=[{"role": "user", "content": "Hi"}], extra_body=GREEDY
    )
    assert message.model == "smol-copy"


def test_sdk_error_classes(server: Server, client: anthropic.Anthropic) -> None:
    wrong_key = anthropic.Anthropic(base_url=server.base_url, api_key="nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as auth:
        wrong_key.models.list()
    assert auth.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError, match="not served here"):
        client.messages.create(model="gpt-4", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("gpt-4")
    with pytest.raises(anthropic.BadRequestError, match="does not support images"):
        client.messages.create(
            model="smollm2-135m-instruct", max_tokens=5,
            messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "http://x/y.png"}}]}],
        )


def test_sdk_sees_413_for_bodies_over_32_mb(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.ContentTooLargeError) as caught:
        client.messages.count_tokens(
            model="smollm2-135m-instruct",
            messages=[{"role": "user", "content": "x" * (33 * 1024 * 1024)}],
        )
    assert caught.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]


def test_concurrent_requests_are_all_answered(server: Server) -> None:
    import concurrent.futures

    client = anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)
    prompts = [f"Give me a fun fact about the number {n}." for n in range(6)]
    before = server.wait_idle()["completed_total"]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda p: ask(client, p, max_tokens=24, extra_body={"seed": 1}), prompts))
    assert all(a.content and a.usage.output_tokens > 0 for a in answers)
    assert server.engine_stats()["completed_total"] - before == 6


def test_a_prompt_longer_than_one_step_is_prefilled_in_chunks_beside_a_running_stream(
    server: Server, client: anthropic.Anthropic
) -> None:
    """The main server steps at most 512 tokens; this prompt needs three chunks, scheduled
    while another request is streaming."""
    facts = " ".join(f"Fact {n}: the number {n} comes after {n - 1}." for n in range(1, 120))
    long_request = {
        "model": "smollm2-135m-instruct",
        "system": "You answer questions about the facts you are given.",
        "messages": [{"role": "user", "content": facts + "\nWhat comes after 5?"}],
    }
    counted = client.messages.count_tokens(**long_request).input_tokens  # type: ignore[arg-type]
    assert 1024 < counted < 2048 - 32
    with client.messages.stream(
        model="smollm2-135m-instruct", max_tokens=64, extra_body=GREEDY,
        messages=[{"role": "user", "content": "Tell me about the sea."}],
    ) as running:
        next(iter(running.text_stream))  # the first stream is decoding
        answer = client.messages.create(max_tokens=16, extra_body=GREEDY, **long_request)  # type: ignore[arg-type]
        rest = running.get_final_message()
    assert answer.usage.input_tokens == counted
    assert answer.content and answer.content[0].text.strip()
    assert answer.stop_reason in ("end_turn", "max_tokens")
    assert rest.content[0].text and rest.usage.output_tokens > 1
