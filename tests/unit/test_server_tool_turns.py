"""The pieces of a server tool's turn: which URLs may be fetched, how a fetched result reads
back as conversation, how a tool's settings are refused, and how a turn is continued."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from antiphon.chat.conversation import build_conversation
from antiphon.chat.fetchable_urls import fetchable_urls, urls_in
from antiphon.chat.tool_calls.events import CallEnd, CallInput, CallStart, TextOut
from antiphon.errors import InvalidRequest
from antiphon.protocol.messages import (
    CountTokensRequest,
    MessagesRequest,
    OutputTextBlock,
    WebFetchUrlSources,
)
from antiphon.protocol.server_tool_blocks import (
    OutputDocument,
    OutputServerToolUseBlock,
    OutputTextSource,
    OutputWebFetchResult,
    OutputWebFetchToolResultBlock,
)
from antiphon.services.response_builder import ResponseBuilder
from antiphon.services.server_tools import continued_request, web_fetch_limits
from antiphon.services.thinking_seal import ThinkingSeal

FETCH = {"type": "web_fetch_20250910", "name": "web_fetch"}
MODEL = "smollm2-135m-instruct"


def _request(messages: list[dict[str, Any]], **fields: Any) -> MessagesRequest:
    return MessagesRequest.model_validate(
        {"model": MODEL, "max_tokens": 16, "messages": messages, "tools": [FETCH], **fields}
    )


def _fetched(call_id: str, url: str, text: str) -> dict[str, Any]:
    return {
        "type": "web_fetch_tool_result", "tool_use_id": call_id,
        "content": {"type": "web_fetch_result", "url": url, "retrieved_at": "2026-11-27T12:00:00Z",
                    "content": {"type": "document", "title": "T",
                                "source": {"type": "text", "media_type": "text/plain", "data": text}}},
    }


def test_urls_are_found_without_their_trailing_punctuation() -> None:
    text = "See https://example.com/a.html, (https://en.wikipedia.org/wiki/Pelican_(bird)) and http://x.test/q?a=1."
    assert list(urls_in(text)) == [
        "https://example.com/a.html", "https://en.wikipedia.org/wiki/Pelican_(bird)", "http://x.test/q?a=1",
    ]


def test_fetchable_urls_come_from_the_sources_the_tool_allows() -> None:
    request = _request([
        {"role": "user", "content": "read https://user.example/page"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {}},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_fetch", "input": {"url": "https://user.example/page"}},
            _fetched("srvtoolu_1", "https://user.example/page", "more at https://linked.example/next"),
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "found https://tool.example/hit"},
        ]},
    ])
    every = fetchable_urls(request, None)
    assert every == ("https://user.example/page", "https://linked.example/next", "https://tool.example/hit")
    sources = WebFetchUrlSources.model_validate({
        "user_input": {"type": "none"},
        "client_tool_results": {"type": "except", "tools": [{"type": "tool_reference", "name": "search"}]},
    })
    assert fetchable_urls(request, sources) == ("https://user.example/page", "https://linked.example/next")
    only_tools = WebFetchUrlSources.model_validate({
        "user_input": {"type": "none"}, "server_tool_results": {"type": "none"},
    })
    assert fetchable_urls(request, only_tools) == ("https://tool.example/hit",)


def test_a_fetch_in_an_assistant_message_reads_as_call_result_and_the_rest() -> None:
    request = _request([
        {"role": "user", "content": "What does https://a.example say?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_fetch", "input": {"url": "https://a.example"}},
            _fetched("srvtoolu_1", "https://a.example", "Pelicans are large birds."),
            {"type": "text", "text": "It says"},
        ]},
    ])
    conversation = build_conversation(request, MODEL, lambda block, path: "")
    roles = [turn.role for turn in conversation.turns]
    assert roles == ["user", "assistant", "user"]
    call_turn, result_turn = conversation.turns[1], conversation.turns[2]
    assert call_turn.content == "Let me look." and call_turn.tool_calls[0].name == "web_fetch"
    result = result_turn.tool_results[0]
    assert result.tool_use_id == "srvtoolu_1" and "Pelicans are large birds." in result.content
    assert conversation.prefill == "It says"


def test_a_failed_fetch_reads_as_an_error_result() -> None:
    request = _request([
        {"role": "user", "content": "https://a.example"},
        {"role": "assistant", "content": [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_fetch", "input": {"url": "https://a.example"}},
            {"type": "web_fetch_tool_result", "tool_use_id": "srvtoolu_1",
             "content": {"type": "web_fetch_tool_result_error", "error_code": "url_not_allowed"}},
        ]},
    ])
    conversation = build_conversation(request, MODEL, lambda block, path: "")
    result = conversation.turns[-1].tool_results[0]
    assert result.is_error and "url_not_allowed" in result.content and conversation.prefill is None


def test_a_result_without_its_call_is_refused_with_its_path() -> None:
    request = _request([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [_fetched("srvtoolu_9", "https://a.example", "x")]},
    ])
    with pytest.raises(InvalidRequest, match=r"messages\.1\.content\.0\.tool_use_id"):
        build_conversation(request, MODEL, lambda block, path: "")


@pytest.mark.parametrize(("tool", "enabled", "message"), [
    ({**FETCH, "allowed_domains": ["a.example"], "blocked_domains": ["b.example"]}, True, "not both"),
    ({**FETCH, "allowed_domains": ["https://a.example"]}, True, "tools.0.allowed_domains: domain"),
    ({**FETCH, "citations": {"enabled": True}}, True, "citations are not supported"),
    (FETCH, False, "web fetch is disabled on this server"),
])
def test_web_fetch_settings_that_cannot_be_served_are_400s(tool: dict, enabled: bool, message: str) -> None:
    request = CountTokensRequest.model_validate(
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "tools": [tool]}
    )
    with pytest.raises(InvalidRequest, match=message):
        web_fetch_limits(request, enabled)


def test_limits_are_read_from_the_tool() -> None:
    request = CountTokensRequest.model_validate({
        "model": MODEL, "messages": [{"role": "user", "content": "hi"}],
        "tools": [{**FETCH, "max_uses": 2, "allowed_domains": ["a.example/docs"], "max_content_tokens": 100}],
    })
    limits = web_fetch_limits(request, True)
    assert limits is not None and limits.max_uses == 2 and limits.allowed_domains == ("a.example/docs",)
    assert limits.max_content_tokens == 100


def test_a_turn_continues_with_its_blocks_and_a_free_tool_choice() -> None:
    request = _request([{"role": "user", "content": "https://a.example"}],
                       tool_choice={"type": "tool", "name": "web_fetch", "disable_parallel_tool_use": True})
    blocks: list[Any] = [
        OutputTextBlock(text="Looking."),
        OutputServerToolUseBlock(id="srvtoolu_1", name="web_fetch", input={"url": "https://a.example"}),
        OutputWebFetchToolResultBlock(tool_use_id="srvtoolu_1", content=OutputWebFetchResult(
            url="https://a.example", retrieved_at="2026-11-27T12:00:00Z",
            content=OutputDocument(source=OutputTextSource(data="Pelicans."), title="A"),
        )),
    ]
    continued = continued_request(request, blocks)
    assert continued.tool_choice is not None and continued.tool_choice.type == "auto"
    assert continued.tool_choice.disable_parallel_tool_use is True
    last = continued.messages[-1]
    assert last.role == "assistant" and [block.type for block in last.content] == [
        "text", "server_tool_use", "web_fetch_tool_result",
    ]
    assert len(request.messages) == 1  # the original request is left as it was


def test_the_builder_opens_server_tool_use_blocks_and_adds_results() -> None:
    builder = ResponseBuilder(ThinkingSeal(b"s" * 32), server_tools=frozenset({"web_fetch"}))
    events = [*builder.on_event(TextOut("Looking.")), *builder.on_event(CallStart("web_fetch"))]
    events += builder.on_event(CallInput('{"url": "https://a.example"}'))
    events += builder.on_event(CallEnd({"url": "https://a.example"}))
    started = [event.content_block for event in events if event.type == "content_block_start"]
    assert [block.type for block in started] == ["text", "server_tool_use"]
    assert started[1].id.startswith("srvtoolu_") and builder.tool_calls == 0
    result = OutputWebFetchToolResultBlock.model_validate({
        "tool_use_id": started[1].id,
        "content": {"type": "web_fetch_tool_result_error", "error_code": "url_not_accessible"},
    })
    added = builder.add_result(result)
    assert [event.type for event in added] == ["content_block_start", "content_block_stop"]
    assert added[0].index == 2 and builder.blocks[-1] is result
    TypeAdapter(list[Any]).validate_python(builder.blocks)
