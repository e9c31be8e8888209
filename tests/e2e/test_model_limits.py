"""A served model's window, output limit and sampling, as clients see them: `/v1/models`,
`count_tokens` and the Messages API agree with what the engine does.

One server holds two ids over the embedded file: `smollm2-135m-instruct` with an exact
1,024-token window, and `small-out` with its default window shortened by a 16,384-token KV
budget (so YaRN ×2 instead of ×4), answers of at most 24 tokens and greedy sampling unless a
request says otherwise. A second server is the same with `--strict`.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.conftest import Server, start_server, stop_server

WINDOW = 1024
ARGS = [
    "--model", f"smollm2-135m-instruct=embedded;ctx={WINDOW}",
    "--model", "small-out=embedded;max-output-tokens=24;temperature=0",
    "--kv-cache", "16384", "--parallel", "2",
]
LONG_ANSWER = [{"role": "user", "content": "Count from 1 to 300, one number per line."}]


@pytest.fixture(scope="module")
def limits_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    process, server = start_server(
        tmp_path_factory.mktemp("limits"), "limits", ARGS, "smollm2-135m-instruct"
    )
    yield server
    stop_server(process)


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    process, server = start_server(
        tmp_path_factory.mktemp("limits-strict"), "limits-strict", [*ARGS, "--strict"],
        "smollm2-135m-instruct",
    )
    yield server
    stop_server(process)


def client_for(server: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)


def messages_of(length: int) -> list[dict]:
    return [{"role": "user", "content": "a" + " a" * length}]


def prompt_of(client: anthropic.Anthropic, tokens: int) -> list[dict]:
    """Messages whose prompt is exactly `tokens` long, found through count_tokens."""
    model = "smollm2-135m-instruct"
    base = client.messages.count_tokens(model=model, messages=messages_of(0)).input_tokens
    messages = messages_of(tokens - base)
    assert client.messages.count_tokens(model=model, messages=messages).input_tokens == tokens
    return messages


def test_models_report_the_window_and_output_limit_the_engine_uses(limits_server: Server) -> None:
    client = client_for(limits_server)
    exact = client.models.retrieve("smollm2-135m-instruct")
    assert (exact.max_input_tokens, exact.max_tokens) == (WINDOW - 1, WINDOW - 1)
    shortened = client.models.retrieve("small-out")
    assert (shortened.max_input_tokens, shortened.max_tokens) == (16383, 24)
    card = limits_server.engine_stats("small-out")  # /health: the model card beside the counters
    assert (card["context_window"], card["trained_context"], card["rope_scaling"]) == (
        16384, 8192, "yarn x2"
    )
    assert card["max_output_tokens"] == 24
    assert limits_server.engine_stats()["rope_scaling"] is None  # 1024: inside its training
    log = limits_server.log_path.read_text()
    assert "16384-token window (trained on 8192, extended ×2 with YaRN)" in log
    assert "temperature 0, top_p 0.9 (set by --model, from its model card)" in log


def test_count_tokens_and_the_window_agree_at_the_boundary(limits_server: Server) -> None:
    client = client_for(limits_server)
    longest = prompt_of(client, WINDOW - 1)
    message = client.messages.create(
        model="smollm2-135m-instruct", max_tokens=1, messages=longest,
        extra_body={"temperature": 0},
    )
    assert message.usage.input_tokens + message.usage.cache_read_input_tokens == WINDOW - 1
    assert message.stop_reason in ("max_tokens", "model_context_window_exceeded", "end_turn")
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(
            model="smollm2-135m-instruct", max_tokens=1, messages=prompt_of(client, WINDOW)
        )
    assert f"prompt is too long: {WINDOW} tokens > {WINDOW - 1} maximum" in str(refused.value)


def test_max_tokens_beyond_the_output_limit_is_clamped(limits_server: Server) -> None:
    with client_for(limits_server).messages.stream(  # as agents ask: streamed, 128k
        model="small-out", max_tokens=128_000, messages=LONG_ANSWER
    ) as stream:
        message = stream.get_final_message()
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 24


def test_strict_refuses_max_tokens_beyond_the_output_limit(strict_server: Server) -> None:
    client = client_for(strict_server)
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(model="small-out", max_tokens=25, messages=LONG_ANSWER)
    assert "max_tokens: 25 > 24, which is the maximum allowed number of output tokens for " \
        "small-out" in str(refused.value)
    message = client.messages.create(model="small-out", max_tokens=24, messages=LONG_ANSWER)
    assert message.usage.output_tokens <= 24


def test_the_models_sampling_applies_where_the_request_leaves_it_unset(limits_server: Server) -> None:
    """`small-out` samples greedily unless asked otherwise: the same answer every time."""
    client = client_for(limits_server)
    story = [{"role": "user", "content": "Write a short story about a lighthouse."}]
    answers = {
        client.messages.create(model="small-out", max_tokens=24, messages=story).content[0].text
        for _ in range(3)
    }
    assert len(answers) == 1
    sampled = {  # the request's own temperature wins
        client.messages.create(
            model="small-out", max_tokens=24, messages=story,
            extra_body={"temperature": 1.0, "seed": seed},
        ).content[0].text
        for seed in range(3)
    }
    assert len(sampled) > 1


def test_an_answer_caught_in_a_verbatim_loop_ends_there(limits_server: Server) -> None:
    """Greedy decoding after a repetitive prefill repeats forever; the loop stop ends it once
    256 tokens repeat one block, as end_turn, and counts it."""
    before = limits_server.engine_stats()["repetition_stops_total"]
    message = client_for(limits_server).messages.create(
        model="smollm2-135m-instruct", max_tokens=900,
        messages=[{"role": "user", "content": "Say 'I like cats.' over and over."},
                  {"role": "assistant", "content": "I like cats. I like cats. I like cats."}],
        extra_body={"temperature": 0},
    )
    assert message.stop_reason == "end_turn"
    assert 256 <= message.usage.output_tokens < 900
    assert limits_server.engine_stats()["repetition_stops_total"] == before + 1
