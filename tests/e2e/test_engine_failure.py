"""When the engine thread dies, every request it held is answered at once with `api_error`
(a JSON 500, or an SSE `error` event once a stream has started), nothing hangs, `/health`
says so with 503 and `/metrics` with `antiphon_engine_up 0`; then the server either keeps
serving the rest (`--on-engine-failure serve`) or exits with status 3 for its supervisor.

The failures are real exceptions on the engine thread, injected through the test-only hooks
of `antiphon/engine/faults.py`."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, start_server, stop_server

MODEL = "smollm2-135m-instruct"
RECORD = {
    "name": "record",
    "description": "Record a note.",
    "input_schema": {"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]},
}
REQUESTS = 8  # more than --parallel 2: some wait in the queue when the engine dies
DEADLINE = 60.0  # an answer that takes longer than this is a hang


def _body(index: int) -> dict:
    body: dict = {
        "model": MODEL, "max_tokens": 400, "stream": index % 2 == 0,
        "messages": [{"role": "user", "content": f"Tell me a long story about the number {index}."}],
    }
    if index % 3 == 0:  # a grammar: built on its own thread before the engine sees it
        body.update(tools=[RECORD], tool_choice={"type": "any"})
    return body


async def _ask(client: httpx.AsyncClient, server: Server, index: int) -> tuple[int, str]:
    response = await client.post(f"{server.base_url}/v1/messages", json=_body(index),
                                 headers=server.headers())
    return response.status_code, response.text


async def _ask_all(server: Server) -> list[tuple[int, str]]:
    async with httpx.AsyncClient(timeout=DEADLINE) as client:
        return await asyncio.gather(*(_ask(client, server, i) for i in range(REQUESTS)))


def _assert_answered_with_api_error(answers: list[tuple[int, str]]) -> int:
    """Every answer is complete: a success, a JSON api_error, or a stream ending in an
    api_error event. Returns how many failed (the engine's crash reached them)."""
    failed = 0
    for status, text in answers:
        if status == 500:
            assert '"type":"api_error"' in text and "stopped" in text, text
            failed += 1
        else:
            assert status == 200, text
            ended = "event: message_stop" in text or '"type":"message"' in text
            errored = "event: error" in text and '"type":"api_error"' in text
            assert ended or errored, text[-400:]
            failed += errored
    return failed


@pytest.fixture(scope="module")
def crashing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Its engine thread raises after 40 decode steps; it keeps serving without it."""
    process, server = start_server(
        tmp_path_factory.mktemp("crash"), "crash",
        ["--parallel", "2", "--ctx", "2048", "--on-engine-failure", "serve"], MODEL,
        env={"ANTIPHON_FAULT_ENGINE_CRASH_AFTER_STEPS": "40"},
    )
    yield server
    stop_server(process)


def test_a_crash_mid_stream_answers_every_request_and_health_says_so(crashing_server: Server) -> None:
    server = crashing_server
    answers = asyncio.run(_ask_all(server))
    assert _assert_answered_with_api_error(answers) >= REQUESTS - 2  # 40 steps end few answers

    health = httpx.get(f"{server.base_url}/health", timeout=10)
    assert health.status_code == 503
    assert health.json()["status"] == "engine_failed"
    model = next(m for m in health.json()["models"] if m["id"] == MODEL)
    assert "injected engine crash" in model["failure"]
    assert model["in_flight"] == 0  # nobody is left waiting
    metrics = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    assert f'antiphon_engine_up{{model="{MODEL}"}} 0.0' in metrics


def test_after_the_crash_requests_fail_fast_and_the_rest_still_serves(crashing_server: Server) -> None:
    server = crashing_server
    for stream in (False, True):
        response = httpx.post(f"{server.base_url}/v1/messages", json={**_body(1), "stream": stream},
                              headers=server.headers(), timeout=10)
        assert response.status_code == 500
        assert response.json()["error"] == {
            "type": "api_error", "message": f"the engine serving {MODEL} has stopped: it failed",
        }
    # What does not need the engine still works.
    models = httpx.get(f"{server.base_url}/v1/models", headers=server.headers(), timeout=10)
    assert models.status_code == 200 and models.json()["data"][0]["id"] == MODEL
    count = httpx.post(f"{server.base_url}/v1/messages/count_tokens", headers=server.headers(),
                       json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}, timeout=10)
    assert count.status_code == 200 and count.json()["input_tokens"] > 0


def test_failing_cleanup_still_answers_everyone_and_the_server_exits_for_its_supervisor(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Freeing a finished sequence raises: the engine dies at the first answer's end, and
    freeing the others while failing them raises too. Everyone is still answered, and with
    the default `--on-engine-failure exit` the process ends with status 3."""
    process, server = start_server(
        tmp_path_factory.mktemp("cleanup"), "cleanup", ["--parallel", "2", "--ctx", "2048"],
        MODEL, env={"ANTIPHON_FAULT_ENGINE_FREE_FAILS": "1"},
    )
    try:
        answers = asyncio.run(_ask_all(server))
        assert _assert_answered_with_api_error(answers) >= 1
        assert process.wait(timeout=30) == 3
    except (AssertionError, subprocess.TimeoutExpired):
        stop_server(process)
        raise
    log = " ".join(server.log_path.read_text().split())  # Rich wraps long lines
    assert "injected failure while freeing a sequence" in log
    assert "cleanup failed while the engine stopped" in log
    assert "for a supervisor to restart the server" in log
