"""Rate limits end to end: the headers, 429 with retry-after at the configured rate, recovery
after it, and one limit shared by two replicas over PostgreSQL and Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import openai
import pytest

from antiphon.services.limit_policy import REFRESH_SECONDS
from tests.conftest import stop_server
from tests.e2e.platform import (
    MODEL,
    PlatformServer,
    create_key,
    create_workspace,
    start_platform_server,
)
from tests.services import postgres_database, redis_url

BODY = {"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
RATE_LIMIT_ID = "rl_antiphon_models"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    # An organisation-wide limit large enough never to be the one that refuses.
    args = ["--rate-limit-requests-per-minute", "100000"]
    process, server = start_platform_server(tmp_path_factory.mktemp("limits"), "limits", None, args)
    yield server
    stop_server(process)


def _limited_key(platform: PlatformServer, limits: list[dict]) -> str:
    with platform.admin() as admin:
        workspace = create_workspace(admin, "limited")
        response = admin.post(
            f"/v1/organizations/workspaces/{workspace['id']}/rate_limits/{RATE_LIMIT_ID}", json={"limits": limits})
        assert response.status_code == 200, response.text
        return create_key(admin, "limited key", workspace["id"])["key"]


def _reset_at(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_requests_per_minute_refuse_at_the_rate_with_headers_and_recover(platform: PlatformServer) -> None:
    key = _limited_key(platform, [{"type": "requests_per_minute", "value": 30}])
    remaining: list[int] = []
    with platform.raw(key) as client:
        for _ in range(40):
            response = client.post("/v1/messages", json=BODY)
            if response.status_code != 200:
                break
            assert response.headers["anthropic-ratelimit-requests-limit"] == "30"
            _reset_at(response.headers["anthropic-ratelimit-requests-reset"])
            remaining.append(int(response.headers["anthropic-ratelimit-requests-remaining"]))
        # A bucket of 30 that refills one request every two seconds: 30, perhaps one more.
        assert 30 <= len(remaining) <= 31 and remaining[0] == 29 and remaining == sorted(remaining, reverse=True)
        assert response.status_code == 429, response.text
        assert response.json()["error"]["type"] == "rate_limit_error"
        assert "30 requests per minute" in response.json()["error"]["message"]
        wait = int(response.headers["retry-after"])
        assert 1 <= wait <= 3
        assert response.headers["anthropic-ratelimit-requests-remaining"] == "0"
        time.sleep(wait)
        assert client.post("/v1/messages", json=BODY).status_code == 200
    metrics = httpx.get(f"{platform.url}/metrics").text
    assert _metric(metrics, 'antiphon_requests_refused_total{reason="rate_limit"}') >= 1
    assert _metric(metrics, "antiphon_usage_records_written_total") >= 1 or \
        _metric(metrics, "antiphon_usage_records_pending") >= 1


def _metric(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[-1])


def test_one_workspace_spending_its_limit_leaves_another_untouched(platform: PlatformServer) -> None:
    exhausted = _limited_key(platform, [{"type": "requests_per_minute", "value": 2}])
    neighbour = _limited_key(platform, [{"type": "requests_per_minute", "value": 2}])
    with platform.raw(exhausted) as one, platform.raw(neighbour) as two:
        assert [one.post("/v1/messages", json=BODY).status_code for _ in range(3)] == [200, 200, 429]
        answered = two.post("/v1/messages", json=BODY)
        assert answered.status_code == 200 and answered.headers["anthropic-ratelimit-requests-remaining"] == "1"


def test_chat_completions_share_the_buckets_and_refuse_in_openai_shape(platform: PlatformServer) -> None:
    """One bucket for both endpoints; OpenAI's x-ratelimit-* headers, its error envelope."""
    key = _limited_key(platform, [{"type": "requests_per_minute", "value": 2}])
    chat = {"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
    with platform.raw(key) as native, httpx.Client(
        base_url=platform.url, timeout=60, headers={"authorization": f"Bearer {key}"}
    ) as openai_style:
        assert native.post("/v1/messages", json=BODY).status_code == 200
        first = openai_style.post("/v1/chat/completions", json=chat)
        assert first.status_code == 200, first.text
        assert first.headers["x-ratelimit-limit-requests"] == "2"
        assert first.headers["x-ratelimit-remaining-requests"] == "0"
        assert first.headers["x-ratelimit-reset-requests"].endswith("s")
        assert not any(name.startswith("anthropic-ratelimit") for name in first.headers)
        refused = openai_style.post("/v1/chat/completions", json=chat)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        error = refused.json()["error"]
        assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
        assert "2 requests per minute" in error["message"] and set(refused.json()) == {"error"}
    sdk = openai.OpenAI(base_url=f"{platform.url}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.RateLimitError) as limited:
        sdk.chat.completions.create(model=MODEL, max_tokens=1, messages=[{"role": "user", "content": "hi"}])
    assert int(limited.value.response.headers["retry-after"]) >= 1


def test_input_tokens_are_charged_from_the_exact_count(platform: PlatformServer) -> None:
    key = _limited_key(platform, [{"type": "input_tokens_per_minute", "value": 1000}])
    with platform.raw(key) as client:
        counted = client.post("/v1/messages/count_tokens", json={k: BODY[k] for k in ("model", "messages")})
        tokens = counted.json()["input_tokens"]
        first = client.post("/v1/messages", json=BODY)
        assert first.headers["anthropic-ratelimit-input-tokens-limit"] == "1000"
        assert int(first.headers["anthropic-ratelimit-input-tokens-remaining"]) == 1000 - tokens
        assert "anthropic-ratelimit-requests-limit" in first.headers  # the organisation's
        # `tokens` is the tighter of the token limits: here the only one.
        assert first.headers["anthropic-ratelimit-tokens-limit"] == "1000"
        assert first.headers["anthropic-ratelimit-tokens-remaining"] == str(1000 - tokens)
        big = {**BODY, "messages": [{"role": "user", "content": "word " * 380}]}
        statuses = [client.post("/v1/messages", json=big) for _ in range(3)]
        # ~390 tokens each: two fit in what is left of 1000, the third does not.
        assert [r.status_code for r in statuses] == [200, 200, 429], [r.text for r in statuses]
        assert "input tokens per minute" in statuses[2].json()["error"]["message"]


def test_output_tokens_are_charged_as_generated(platform: PlatformServer) -> None:
    key = _limited_key(platform, [{"type": "output_tokens_per_minute", "value": 20}])
    with platform.raw(key) as client:
        long = {**BODY, "max_tokens": 40, "temperature": 0,
                "messages": [{"role": "user", "content": "Write a long story about a dragon."}]}
        served = client.post("/v1/messages", json=long)
        assert served.status_code == 200 and served.json()["usage"]["output_tokens"] > 20
        # The bucket is now in debt: the next request waits until it is paid back.
        refused = client.post("/v1/messages", json=BODY)
        assert refused.status_code == 429 and "output tokens" in refused.json()["error"]["message"]
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["anthropic-ratelimit-output-tokens-remaining"] == "0"


def test_two_replicas_share_one_limit_through_postgresql_and_redis(tmp_path: Path) -> None:
    redis = redis_url()
    with postgres_database() as url:
        args = ["--redis-url", redis]
        # Started together on an empty database: one migrates and creates the first rows
        # while the other waits for its lock.
        with ThreadPoolExecutor(2) as pool:
            starting = [pool.submit(start_platform_server, tmp_path, f"replica-{i}", url, args) for i in (1, 2)]
            (first, one), (second, two) = (future.result() for future in starting)
        try:
            with one.admin() as a, two.admin() as b:
                assert a.get("/v1/organizations/me").json() == b.get("/v1/organizations/me").json()
                defaults = a.get("/v1/organizations/workspaces", params={"include_default": "true"}).json()
                assert [w["name"] for w in defaults["data"]] == ["Default"]
            _share_one_limit(one, two)
        finally:
            stop_server(second)
            stop_server(first)


def _share_one_limit(one: PlatformServer, two: PlatformServer) -> None:
    key = _limited_key(one, [{"type": "requests_per_minute", "value": 6}])  # made on replica 1
    with two.admin() as admin:  # replica 2 sees the key and the limit in the shared database
        listed = admin.get("/v1/organizations/api_keys", params={"limit": 1000}).json()["data"]
        assert "limited key" in [k["name"] for k in listed]
    # Replica 2 re-reads limits on the first request at least REFRESH_SECONDS after its last
    # read, which was before the key existed: after this wait its next request reads them.
    time.sleep(REFRESH_SECONDS + 0.5)
    statuses = []
    with one.raw(key) as a, two.raw(key) as b:
        for i in range(10):
            statuses.append((a if i % 2 == 0 else b).post("/v1/messages", json=BODY).status_code)
    # One bucket of 6 (refilling one every 10 s) across both replicas: six pass, four wait.
    assert statuses.count(200) == 6 and statuses.count(429) == 4, statuses
    assert statuses[:6] == [200] * 6
    with httpx.Client() as plain:
        refused = plain.post(f"{two.url}/v1/messages", json=BODY, headers={"x-api-key": key, "anthropic-version": "2023-06-01"})
        assert refused.status_code == 429 and refused.headers["anthropic-ratelimit-requests-limit"] == "6"
