"""Web fetch, the server tool: the official SDK declares it by type, the model calls it, the
server fetches the page itself and goes on with the turn.

Pages come from a local HTTP server on 127.0.0.1. The main test server admits loopback with
`--web-fetch-allow 127.0.0.1` (as an operator admits an intranet); the tight server runs with
the defaults, so loopback is refused there, as is every private or metadata address on any
server, also when a redirect leads to one. The model is forced to make the first call (a
135M model offered a tool does not reliably choose it); the URL it writes is constrained to
those the conversation holds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import pytest

from tests.conftest import Server

MODEL = "smollm2-135m-instruct"
FETCH = {"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 1}
FORCED = {"type": "tool", "name": "web_fetch"}
GREEDY = {"temperature": 0}
PAGE = (
    b"<html><head><title>Pelican facts</title><script>var hidden = 'SCRIPT-TEXT';</script>"
    b"</head><body><h1>Pelicans</h1><p>The pelican's name is Bartholomew.</p></body></html>"
)


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/pelican.html":
            self._send(200, "text/html; charset=utf-8", PAGE)
        elif self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
        elif self.path == "/huge.txt":
            self._send(200, "text/plain", b"x" * (11 * 1024 * 1024))
        else:
            self._send(404, "text/plain", b"no such page")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the fetcher stopped reading past its size limit

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def pages() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _client(server: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)


def _ask(server: Server, url: str, **extra: Any) -> Any:
    return _client(server).messages.create(
        model=MODEL, max_tokens=120, tools=[FETCH], tool_choice=FORCED,  # type: ignore[list-item]
        messages=[{"role": "user", "content": f"What does {url} say about pelicans?"}],
        extra_body=GREEDY, **extra,
    )


def _fetch_result(message: Any, url: str) -> Any:
    """The turn opens with the server's call of the URL and its result."""
    call, result = message.content[0], message.content[1]
    assert call.type == "server_tool_use" and call.name == "web_fetch", message.content
    assert call.input == {"url": url} and call.id.startswith("srvtoolu_")
    assert result.type == "web_fetch_tool_result" and result.tool_use_id == call.id
    return result.content


def test_a_page_is_fetched_and_the_turn_goes_on(server: Server, pages: str) -> None:
    url = f"{pages}/pelican.html"
    message = _ask(server, url)
    fetched = _fetch_result(message, url)
    assert fetched.type == "web_fetch_result" and fetched.url == url, fetched
    assert fetched.retrieved_at and fetched.content.title == "Pelican facts"
    text = fetched.content.source.data
    assert "Bartholomew" in text and "SCRIPT-TEXT" not in text, text
    assert message.usage.server_tool_use.web_fetch_requests == 1, message.usage
    assert message.stop_reason in ("end_turn", "max_tokens", "pause_turn"), message.stop_reason
    # The turn went on after the result: what follows is the model's, in the same message.
    later = message.content[2:]
    assert all(block.type in ("text", "server_tool_use", "web_fetch_tool_result") for block in later)
    # Usage covers both samplings: the question alone, then the question, call and page.
    question = _client(server).messages.count_tokens(
        model=MODEL, tools=[FETCH], messages=[{"role": "user", "content": f"What does {url} say about pelicans?"}],  # type: ignore[list-item]
    ).input_tokens
    usage = message.usage
    read = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    assert read > 2 * question, (read, question)


def test_streamed_fetch_gives_the_same_blocks(server: Server, pages: str) -> None:
    url = f"{pages}/pelican.html"
    with _client(server).messages.stream(
        model=MODEL, max_tokens=80, tools=[FETCH], tool_choice=FORCED,  # type: ignore[list-item]
        messages=[{"role": "user", "content": f"Summarise {url}"}], extra_body=GREEDY,
    ) as stream:
        kinds = [event.content_block.type for event in stream if event.type == "content_block_start"]
        message = stream.get_final_message()
    assert kinds[:2] == ["server_tool_use", "web_fetch_tool_result"], kinds
    assert "Bartholomew" in _fetch_result(message, url).content.source.data
    assert message.usage.server_tool_use.web_fetch_requests == 1


def test_the_answer_can_be_sent_back_and_continued(server: Server, pages: str) -> None:
    """What a client does after `pause_turn` (or to go on from any turn): the assistant's
    blocks, server tool results included, are read back as the conversation."""
    url = f"{pages}/pelican.html"
    first = _ask(server, url)
    client = _client(server)
    history: list[Any] = [
        {"role": "user", "content": f"What does {url} say about pelicans?"},
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content[:2]]},
    ]
    counted = client.messages.count_tokens(model=MODEL, messages=history, tools=[FETCH])  # type: ignore[list-item]
    assert counted.input_tokens > 40
    answer = client.messages.create(
        model=MODEL, max_tokens=8, tools=[FETCH], messages=history, extra_body=GREEDY,  # type: ignore[list-item]
    )
    assert answer.stop_reason in ("end_turn", "max_tokens", "pause_turn")


@pytest.mark.parametrize(("path", "code"), [
    ("/to-metadata", "url_not_allowed"),   # a redirect to the cloud metadata address
    ("/huge.txt", "content_too_large"),    # past --web-fetch-max-bytes (10 MiB)
    ("/missing", "url_not_accessible"),    # HTTP 404
])
def test_fetches_that_fail_are_results_not_errors(server: Server, pages: str, path: str, code: str) -> None:
    url = f"{pages}{path}"
    fetched = _fetch_result(_ask(server, url), url)
    assert fetched.type == "web_fetch_tool_result_error" and fetched.error_code == code, fetched


def test_loopback_is_refused_without_the_operators_allowlist(tight_server: Server, pages: str) -> None:
    url = f"{pages}/pelican.html"
    message = _client(tight_server).messages.create(
        model=MODEL, max_tokens=80, tools=[FETCH], tool_choice=FORCED,  # type: ignore[list-item]
        messages=[{"role": "user", "content": url}], extra_body=GREEDY,
    )
    fetched = _fetch_result(message, url)
    assert fetched.type == "web_fetch_tool_result_error" and fetched.error_code == "url_not_allowed"
    assert message.usage.server_tool_use.web_fetch_requests == 1


def test_declaring_both_domain_lists_is_a_400(server: Server) -> None:
    with pytest.raises(anthropic.BadRequestError, match="allowed_domains or blocked_domains"):
        _client(server).messages.create(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}],
            tools=[{**FETCH, "allowed_domains": ["a.example"], "blocked_domains": ["b.example"]}],  # type: ignore[list-item]
        )
