"""Usage accounting, cost and spend limits, on SQLite and PostgreSQL: the usage report sums
equal the `usage` of the responses served, and a server restart keeps keys and usage."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.conftest import stop_server
from tests.e2e.platform import (
    MODEL,
    PlatformServer,
    ask,
    create_key,
    create_workspace,
    start_platform_server,
)
from tests.services import database_url

# One cent per input token and two per output token: costs that are easy to check.
PRICES = {MODEL: {"input": 10_000, "output": 20_000, "cache_read": 1_000, "cache_write_5m": 12_500}}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, str | None]]:
    with database_url(request.param) as url:
        yield request.param, url


@pytest.fixture(scope="module")
def platform(backend: tuple[str, str | None], tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    name, url = backend
    env = {"ANTIPHON_PRICES": json.dumps(PRICES)}
    process, server = start_platform_server(tmp_path_factory.mktemp("usage"), f"usage-{name}", url, env=env)
    yield server
    stop_server(process)


def _report(admin: httpx.Client, workspace_id: str, **params: object) -> dict:
    start = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    query = {"starting_at": start.isoformat().replace("+00:00", "Z"), "workspace_ids[]": workspace_id,
             "bucket_width": "1h", **params}
    response = admin.get("/v1/organizations/usage_report/messages", params=query)
    assert response.status_code == 200, response.text
    return response.json()


def _sum(report: dict, field: str) -> int:
    total = 0
    for bucket in report["data"]:
        for row in bucket["results"]:
            total += row["cache_creation"][field] if field.startswith("ephemeral") else row[field]
    return total


def _wait_for_usage(admin: httpx.Client, workspace_id: str, output_tokens: int) -> dict:
    deadline = time.monotonic() + 10
    while True:  # records are written in batches every half second
        report = _report(admin, workspace_id, **{"group_by[]": ["model", "api_key_id", "workspace_id", "service_tier"]})
        if _sum(report, "output_tokens") >= output_tokens or time.monotonic() > deadline:
            return report
        time.sleep(0.2)


def test_usage_report_sums_equal_the_usage_of_the_responses_served(platform: PlatformServer) -> None:
    with platform.admin() as admin:
        workspace = create_workspace(admin, "accounting")
        key = create_key(admin, "accounted", workspace["id"])
        client = platform.client(key["key"])
        system = [{"type": "text", "text": "You are terse. " * 40, "cache_control": {"type": "ephemeral"}}]
        served = [ask(client, "Count to three"), ask(client, "Name a colour", max_tokens=8)]
        for _ in range(2):  # the second one reads what the first wrote
            served.append(client.messages.create(model=MODEL, max_tokens=4, system=system,  # type: ignore[arg-type]
                                                 messages=[{"role": "user", "content": "hi"}]))
        with client.messages.stream(model=MODEL, max_tokens=6, messages=[{"role": "user", "content": "Go"}]) as stream:
            served.append(stream.get_final_message())
        expected = {
            "uncached_input_tokens": sum(m.usage.input_tokens for m in served),
            "cache_read_input_tokens": sum(m.usage.cache_read_input_tokens or 0 for m in served),
            "ephemeral_5m_input_tokens": sum(m.usage.cache_creation_input_tokens or 0 for m in served),
            "output_tokens": sum(m.usage.output_tokens for m in served),
        }
        assert expected["cache_read_input_tokens"] > 0 and expected["ephemeral_5m_input_tokens"] > 0
        report = _wait_for_usage(admin, workspace["id"], expected["output_tokens"])
        assert {field: _sum(report, field) for field in expected} == expected
        rows = [row for bucket in report["data"] for row in bucket["results"]]
        assert {(r["model"], r["api_key_id"], r["workspace_id"], r["service_tier"]) for r in rows} == {
            (MODEL, key["id"], workspace["id"], "standard")}
        daily = _report(admin, workspace["id"], bucket_width="1d")
        assert _sum(daily, "output_tokens") == expected["output_tokens"]
        assert all(row["model"] is None for bucket in daily["data"] for row in bucket["results"])

        cost = admin.get("/v1/organizations/cost_report", params={
            "starting_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(), "workspace_ids[]": workspace["id"],
            "group_by[]": ["workspace_id", "description"]}).json()
        results = [row for bucket in cost["data"] for row in bucket["results"]]
        by_type = {row["token_type"]: float(row["amount"]) for row in results}
        assert by_type["uncached_input_tokens"] == pytest.approx(expected["uncached_input_tokens"] * 1.0)
        assert by_type["output_tokens"] == pytest.approx(expected["output_tokens"] * 2.0)
        assert by_type["cache_read_input_tokens"] == pytest.approx(expected["cache_read_input_tokens"] * 0.1)
        assert all(row["workspace_id"] == workspace["id"] and row["currency"] == "USD" for row in results)


def test_chat_completions_count_in_usage_like_messages(platform: PlatformServer) -> None:
    """The OpenAI path spends from the same records: a completion's usage, and a stream cut
    off midway recorded once with what it spent."""
    with platform.admin() as admin:
        workspace = create_workspace(admin, "openai")
        key = create_key(admin, "openai key", workspace["id"])["key"]
        chat = {"model": MODEL, "max_tokens": 300, "temperature": 0,
                "messages": [{"role": "user", "content": "Write a long story about a lighthouse."}]}
        with httpx.Client(base_url=platform.url, timeout=60,
                          headers={"authorization": f"Bearer {key}"}) as client:
            answered = client.post("/v1/chat/completions", json={**chat, "max_tokens": 5})
            assert answered.status_code == 200, answered.text
            usage = answered.json()["usage"]
            _wait_for_usage(admin, workspace["id"], usage["completion_tokens"])
            report = _report(admin, workspace["id"])
            assert _sum(report, "output_tokens") == usage["completion_tokens"]
            assert _sum(report, "uncached_input_tokens") + _sum(report, "cache_read_input_tokens") == usage["prompt_tokens"]
            chunks = 0
            with client.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as stream:
                for line in stream.iter_lines():
                    chunks += '"content":"' in line and '"content":""' not in line
                    if chunks == 8:
                        break  # leaving the block closes the connection mid-answer
        spent_before = usage["completion_tokens"]
        report = _wait_for_usage(admin, workspace["id"], spent_before + 8)
        spent = _sum(report, "output_tokens") - spent_before
        assert 8 <= spent < 300
        time.sleep(1.0)  # nothing more arrives for it later
        assert _sum(_report(admin, workspace["id"]), "output_tokens") - spent_before == spent


def test_usage_report_pages_through_buckets(platform: PlatformServer) -> None:
    with platform.admin() as admin:
        start = (datetime.now(UTC) - timedelta(minutes=5)).replace(second=0, microsecond=0)
        query = {"starting_at": start.isoformat(), "bucket_width": "1m", "limit": 4}
        first = admin.get("/v1/organizations/usage_report/messages", params=query).json()
        assert len(first["data"]) == 4 and first["has_more"] and first["next_page"]
        assert first["data"][0]["starting_at"] == start.isoformat().replace("+00:00", "Z")
        second = admin.get("/v1/organizations/usage_report/messages", params={**query, "page": first["next_page"]}).json()
        assert second["data"][0]["starting_at"] == first["next_page"]
        assert second["data"][0]["starting_at"] == first["data"][-1]["ending_at"]


def test_a_report_over_centuries_in_minutes_pages_without_building_them_all(platform: PlatformServer) -> None:
    """Found by fuzzing: every bucket start of the range was listed before paging, and year 46
    to now in 1m buckets took the server's memory until it was killed."""
    with platform.admin() as admin:
        query = {"starting_at": "0046-03-16T21:43:00Z", "bucket_width": "1m", "limit": 3}
        first = admin.get("/v1/organizations/usage_report/messages", params=query, timeout=30).json()
        assert [bucket["starting_at"] for bucket in first["data"]] == [
            "0046-03-16T21:43:00Z", "0046-03-16T21:44:00Z", "0046-03-16T21:45:00Z"]
        assert first["has_more"] and first["next_page"] == "0046-03-16T21:46:00Z"
        assert admin.get("/health").status_code == 200


def test_spend_limit_gives_402_once_the_month_spend_reaches_it(platform: PlatformServer) -> None:
    with platform.admin() as admin:
        workspace = create_workspace(admin, "frugal")
        client = platform.client(create_key(admin, "frugal key", workspace["id"])["key"])
        path = f"/v1/organizations/workspaces/{workspace['id']}/spend_limit"
        assert admin.get(path).json()["amount"] is None
        limit = admin.post(path, json={"amount": "30"}).json()  # 30 cents: one request of ~30 tokens
        assert limit["amount"] == "30" and limit["scope"]["workspace_id"] == workspace["id"]
        ask(client, "Hello there, how are you today? Please answer briefly and kindly.")
        with pytest.raises(anthropic.APIStatusError) as refused:
            ask(client)
        assert refused.value.status_code == 402
        assert refused.value.body["error"]["type"] == "billing_error"  # type: ignore[index]
        assert float(admin.get(path).json()["spent"]) >= 30
        for body in ({"amount": "-1"}, {"amount": 5}, {"amount": "5", "currency": "EUR"}, {}):
            assert admin.post(path, json=body).status_code == 400, body
        admin.post(path, json={"amount": None})
        ask(client)


def test_a_restart_keeps_every_key_and_every_usage_record(
    backend: tuple[str, str | None], tmp_path: Path
) -> None:
    name, url = backend
    process, server = start_platform_server(tmp_path, f"restart-{name}", url)
    try:
        with server.admin() as admin:
            workspace = create_workspace(admin, "durable")
            key = create_key(admin, "durable key", workspace["id"])
            revoked = create_key(admin, "revoked key", workspace["id"])
            admin.post(f"/v1/organizations/api_keys/{revoked['id']}", json={"status": "inactive"})
        served = [ask(server.client(key["key"])) for _ in range(3)]
        kept = server.client(key["key"]).files.upload(file=("kept.txt", b"kept across restarts", "text/plain"))
    finally:
        stop_server(process)  # SIGINT: queued usage is written on the way out
    process, server = start_platform_server(tmp_path, f"restart-{name}-2", url, data_dir=server.data_dir)
    try:
        with server.admin() as admin:
            report = _report(admin, workspace["id"])
            for field, served_sum in (("output_tokens", sum(m.usage.output_tokens for m in served)),
                                      ("uncached_input_tokens", sum(m.usage.input_tokens for m in served))):
                assert _sum(report, field) == served_sum, field
            assert admin.get(f"/v1/organizations/workspaces/{workspace['id']}").json()["name"] == "durable"
        ask(server.client(key["key"]))
        assert server.client(key["key"]).files.download(kept.id).read() == b"kept across restarts"
        with pytest.raises(anthropic.AuthenticationError):
            ask(server.client(revoked["key"]))
        assert "first start" not in server.server.log_path.read_text()  # no new keys were made
    finally:
        stop_server(process)


def test_a_stream_cut_off_midway_is_recorded_with_what_it_spent(platform: PlatformServer) -> None:
    with platform.admin() as admin:
        workspace = create_workspace(admin, "aborted")
        key = create_key(admin, "aborting", workspace["id"])
        body = {"model": MODEL, "max_tokens": 300, "stream": True, "temperature": 0,
                "messages": [{"role": "user", "content": "Write a long story about a lighthouse."}]}
        deltas = 0
        with platform.raw(key["key"]) as client, client.stream("POST", "/v1/messages", json=body) as response:
            for line in response.iter_lines():
                deltas += line == "event: content_block_delta"
                if deltas == 8:
                    break  # leaving the block closes the connection mid-answer
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            report = _report(admin, workspace["id"])
            if _sum(report, "output_tokens") > 0:
                break
            time.sleep(0.2)
        spent = _sum(report, "output_tokens")
        assert 8 <= spent < 300 and _sum(report, "uncached_input_tokens") > 0
        time.sleep(1.0)  # nothing more arrives for it later
        assert _sum(_report(admin, workspace["id"]), "output_tokens") == spent
