"""Message Batches end to end with the official SDK, on SQLite and PostgreSQL: a batch runs to
its results (read with `results()`), its usage is billed as the batch tier at half price,
lists page, cancel and delete follow the hosted rules, bad batches are refused whole, and
another workspace cannot see a batch."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import anthropic
import pytest

from tests.conftest import stop_server
from tests.e2e.platform import (
    MODEL,
    PlatformServer,
    assert_cursor_is_no_object,
    create_key,
    create_workspace,
    start_platform_server,
)
from tests.services import database_url

PRICES = {MODEL: {"input": 10_000, "output": 20_000}}  # a cent an input token, two an output one


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    with database_url(request.param) as url:
        process, server = start_platform_server(
            tmp_path_factory.mktemp("batches"), f"batches-{request.param}", url,
            env={"ANTIPHON_PRICES": json.dumps(PRICES)})
        yield server
        stop_server(process)


@pytest.fixture(scope="module")
def workspaces(platform: PlatformServer) -> list[tuple[str, str]]:
    """(workspace id, key) of two workspaces."""
    with platform.admin() as admin:
        made = [create_workspace(admin, f"batches {i}")["id"] for i in range(2)]
        return [(workspace, create_key(admin, f"batches {workspace}", workspace)["key"]) for workspace in made]


def request(custom_id: str, text: str = "Say hi", max_tokens: int = 6, **params: object) -> dict:
    return {"custom_id": custom_id, "params": {
        "model": MODEL, "max_tokens": max_tokens, "temperature": 0.0,
        "messages": [{"role": "user", "content": text}], **params}}


def wait_until_ended(client: anthropic.Anthropic, batch_id: str, timeout: float = 120) -> anthropic.types.messages.MessageBatch:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        assert batch.request_counts.processing == sum(batch.request_counts.to_dict().values())  # hosted rule
        assert time.monotonic() < deadline, f"batch {batch_id} still {batch.processing_status}"
        time.sleep(0.3)


def test_a_batch_runs_to_its_results_and_is_billed_as_the_batch_tier(
    platform: PlatformServer, workspaces: list[tuple[str, str]]
) -> None:
    workspace, key = workspaces[0]
    client = platform.client(key)
    too_long = "word " * 700  # over the 512-token window: this request errors when it runs
    created = client.messages.batches.create(requests=[  # type: ignore[arg-type]
        request("greet"), request("count", "Count to five", 8), request("long", too_long), request("colour", "Name a colour")])
    assert created.id.startswith("msgbatch_") and created.processing_status == "in_progress"
    assert created.request_counts.processing == 4 and created.results_url is None
    assert created.expires_at - created.created_at == timedelta(hours=24)

    ended = wait_until_ended(client, created.id)
    assert ended.ended_at is not None and ended.ended_at >= ended.created_at
    assert ended.request_counts.to_dict() == {"processing": 0, "succeeded": 3, "errored": 1, "canceled": 0, "expired": 0}
    assert ended.results_url == f"{platform.url}/v1/messages/batches/{created.id}/results"

    with platform.raw(key) as raw:
        metrics = raw.get("/metrics").text
    answered = next(line for line in metrics.splitlines() if line.startswith("antiphon_batch_requests_answered_total"))
    assert float(answered.split()[-1]) >= 4

    results = {line.custom_id: line.result for line in client.messages.batches.results(created.id)}
    assert sorted(results) == ["colour", "count", "greet", "long"]
    errored = results["long"]
    assert errored.type == "errored" and errored.error.error.type == "invalid_request_error"
    assert "prompt is too long" in errored.error.error.message
    messages = [result.message for result in results.values() if result.type == "succeeded"]
    assert len(messages) == 3 and all(m.usage.service_tier == "batch" and m.content for m in messages)
    assert max(m.usage.output_tokens for m in messages) <= 8

    output_tokens = sum(m.usage.output_tokens for m in messages)
    with platform.admin() as admin:
        deadline = time.monotonic() + 10
        while True:  # usage is written every half second
            cost = admin.get("/v1/organizations/cost_report", params={
                "starting_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                "workspace_ids[]": workspace, "group_by[]": ["description"]}).json()
            lines = [row for bucket in cost["data"] for row in bucket["results"]]
            output = [row for row in lines if row["token_type"] == "output_tokens"]
            billed = sum(float(row["amount"]) for row in output)
            if billed >= output_tokens * 2.0 * 0.5 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert {row["service_tier"] for row in lines} == {"batch"}
    assert billed == pytest.approx(output_tokens * 2.0 * 0.5)  # half price


def test_results_url_names_this_server_and_never_echoes_a_foreign_host(
    platform: PlatformServer, workspaces: list[tuple[str, str]]
) -> None:
    key = workspaces[0][1]
    batch = platform.client(key).messages.batches.create(requests=[request("one")])  # type: ignore[arg-type]
    wait_until_ended(platform.client(key), batch.id)
    port = urlsplit(platform.url).port
    path = f"/v1/messages/batches/{batch.id}"
    machine = socket.gethostname()
    expected = {
        "evil.example": platform.url,  # not this machine: the listening address instead
        f"evil.example:{port}": platform.url,
        "127.0.0.1.evil.example": platform.url,
        f"localhost:{port}": f"http://localhost:{port}",
        f"{machine}:{port}": f"http://{machine}:{port}",  # a LAN client naming the machine
    }
    with platform.raw(key) as raw:
        for host, base in expected.items():
            answer = raw.get(path, headers={"host": host})
            assert answer.status_code == 200, answer.text
            assert answer.json()["results_url"] == f"{base}{path}/results", host


def test_a_configured_public_url_is_what_results_url_starts_with(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    process, server = start_platform_server(
        tmp_path_factory.mktemp("public"), "public", None,
        args=["--public-url", "https://llm.example.com/antiphon/"])
    try:
        with server.admin() as admin:
            key = create_key(admin, "public", create_workspace(admin, "public")["id"])["key"]
        client = server.client(key)
        batch = client.messages.batches.create(requests=[request("one")])  # type: ignore[arg-type]
        ended = wait_until_ended(client, batch.id)
        assert ended.results_url == f"https://llm.example.com/antiphon/v1/messages/batches/{batch.id}/results"
    finally:
        stop_server(process)


def test_batches_list_newest_first_and_stay_in_their_workspace(
    platform: PlatformServer, workspaces: list[tuple[str, str]]
) -> None:
    (_, key), (_, other_key) = workspaces
    client, other = platform.client(key), platform.client(other_key)
    made = [client.messages.batches.create(requests=[request(f"r{i}", max_tokens=1)]).id for i in range(3)]  # type: ignore[list-item]
    listed = [batch.id for batch in client.messages.batches.list(limit=1)]  # pages one by one
    assert listed[:3] == made[::-1]
    first = client.messages.batches.list(limit=2)
    assert first.has_more and [b.id for b in first.data] == made[:0:-1]
    assert [b.id for b in other.messages.batches.list()] == []
    assert_cursor_is_no_object(platform, other_key, "/v1/messages/batches", made[0])
    with pytest.raises(anthropic.NotFoundError, match=made[0]):
        other.messages.batches.retrieve(made[0])
    for batch_id in made:
        wait_until_ended(client, batch_id)
        with pytest.raises(anthropic.NotFoundError):
            other.messages.batches.delete(batch_id)
        assert client.messages.batches.delete(batch_id).type == "message_batch_deleted"
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve(batch_id)


def test_cancel_ends_the_batch_with_its_unstarted_requests_canceled(
    platform: PlatformServer, workspaces: list[tuple[str, str]]
) -> None:
    client = platform.client(workspaces[0][1])
    batch = client.messages.batches.create(  # type: ignore[arg-type]
        requests=[request(f"c{i}", "Tell me a long story", 48) for i in range(30)])
    canceled = client.messages.batches.cancel(batch.id)
    assert canceled.processing_status in ("canceling", "ended") and canceled.cancel_initiated_at is not None
    if canceled.processing_status == "canceling":
        with pytest.raises(anthropic.ConflictError):
            client.messages.batches.delete(batch.id)
        with platform.raw(workspaces[0][1]) as raw:  # results before the end: refused clearly
            response = raw.get(f"/v1/messages/batches/{batch.id}/results")
            assert response.status_code == 409 and "ended" in response.json()["error"]["message"]
    ended = wait_until_ended(client, batch.id)
    counts = ended.request_counts
    assert counts.canceled >= 25 and counts.canceled + counts.succeeded == 30
    results = list(client.messages.batches.results(batch.id))
    assert sorted(line.custom_id for line in results) == sorted(f"c{i}" for i in range(30))
    assert sum(line.result.type == "canceled" for line in results) == counts.canceled
    with pytest.raises(anthropic.ConflictError):
        client.messages.batches.cancel(batch.id)


@pytest.mark.parametrize("status", ["inactive", "archived"])
def test_a_batch_whose_key_is_turned_off_stops_running_and_says_why(
    platform: PlatformServer, status: str
) -> None:
    """Disabling or archiving the key that created a batch (archiving a workspace archives
    its keys) ends the requests that had not started as errored, saying why."""
    with platform.admin() as admin:
        workspace = create_workspace(admin, f"revoked {status}")["id"]
        creator = create_key(admin, "creator", workspace)
        reader = platform.client(create_key(admin, "reader", workspace)["key"])
        batch = platform.client(creator["key"]).messages.batches.create(  # type: ignore[arg-type]
            requests=[request(f"r{i}", "Tell me a long story", 48) for i in range(12)])
        changed = admin.post(f"/v1/organizations/api_keys/{creator['id']}", json={"status": status})
        assert changed.status_code == 200, changed.text
    ended = wait_until_ended(reader, batch.id)
    counts = ended.request_counts
    assert counts.errored >= 9 and counts.errored + counts.succeeded == 12, counts  # only those running finished
    errored = [line.result for line in reader.messages.batches.results(batch.id) if line.result.type == "errored"]
    assert len(errored) == counts.errored
    for result in errored:
        error = result.error.error  # type: ignore[union-attr]
        assert error.type == "permission_error"
        assert error.message == (
            f"the API key that created this batch ({creator['id']}) is {status}: "
            "its remaining requests do not run"
        )


@pytest.mark.parametrize(("requests", "message"), [
    ([request("same"), request("same")], "requests.1 (custom_id 'same'): custom_id is also used by requests.0"),
    ([request("ok"), request("bad id!")], "requests.1.custom_id: String should match pattern"),
    ([request("ok"), request("streamed", stream=True)], "requests.1 (custom_id 'streamed'): params.stream"),
    ([request("ok"), request("who", model="no-such-model")], "requests.1 (custom_id 'who'): params: "),
    ([request("ok"), {"custom_id": "empty", "params": {"model": MODEL, "max_tokens": 5}}],
     "requests.1 (custom_id 'empty'): params.messages: Field required"),
    ([request("ok"), request("stops", stop_sequences=[""])], "requests.1 (custom_id 'stops'): params: stop_sequences.0"),
    ([], "requests: List should have at least 1 item"),
])
def test_a_bad_batch_is_refused_whole_naming_the_request(
    platform: PlatformServer, workspaces: list[tuple[str, str]], requests: list[dict], message: str
) -> None:
    client = platform.client(workspaces[1][1])
    before = [batch.id for batch in client.messages.batches.list()]
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    assert message in refused.value.body["error"]["message"]  # type: ignore[index]
    assert [batch.id for batch in client.messages.batches.list()] == before  # nothing stored


def test_more_than_100000_requests_or_256_mb_are_refused(
    platform: PlatformServer, workspaces: list[tuple[str, str]]
) -> None:
    key = workspaces[1][1]
    with platform.raw(key) as raw:
        body = {"requests": [request(f"r{i}", "x", 1) for i in range(100_001)]}
        response = raw.post("/v1/messages/batches", json=body, timeout=120)
        assert response.status_code == 400 and "at most 100000 items" in response.json()["error"]["message"]
    parts = urlsplit(platform.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.putrequest("POST", "/v1/messages/batches")
    for name, value in (("x-api-key", key), ("anthropic-version", "2023-06-01"),
                        ("content-type", "application/json"), ("content-length", str(257 * 1024 * 1024))):
        connection.putheader(name, value)
    connection.endheaders()
    response413 = connection.getresponse()
    assert response413.status == 413 and b"request_too_large" in response413.read()
    connection.close()
