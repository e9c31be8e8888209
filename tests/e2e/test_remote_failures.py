"""A pool of real `llama-server` upstreams when things go wrong, and where requests go:
an upstream killed mid-run, a retry before the first token, a client that disconnects,
prefix-affinity routing against round-robin on an agent's growing conversations, and two
replicas in front of one pool that share their routing through Redis."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Server, start_server, stop_server
from tests.e2e.sse_reader import named_events
from tests.e2e.upstreams import LlamaServer, pool_spec, start_fleet
from tests.services import postgres_database, redis_url

ONE_AT_A_TIME = "concurrency=1"  # so that who runs and who waits is known
QUICK_CHECKS = "health-interval=1"
COUNT = [{"role": "user", "content": "Count from 1 to 1000, one number per line."}]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LlamaServer]]:
    upstreams = start_fleet(tmp_path_factory.mktemp("fleet"), 2)
    yield upstreams
    for upstream in upstreams:
        upstream.kill()


@pytest.fixture(scope="module")
def remote(fleet: list[LlamaServer], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    args = [
        "--model", pool_spec("pool", fleet, ONE_AT_A_TIME, QUICK_CHECKS),
        "--model", pool_spec("affine", fleet, QUICK_CHECKS),
        "--model", pool_spec("round-robin", fleet, "routing=round-robin", QUICK_CHECKS),
    ]
    process, server = start_server(tmp_path_factory.mktemp("remote"), "remote", args, "pool")
    yield server
    stop_server(process)


def body(messages: list[dict[str, Any]], max_tokens: int, model: str = "pool", **more: Any) -> dict:
    return {"model": model, "max_tokens": max_tokens, "temperature": 0, "messages": messages, **more}


def upstreams(server: Server, model: str = "pool") -> list[dict]:
    return server.engine_stats(model)["upstreams"]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def running_on(server: Server) -> list[int]:
    return [index for index, upstream in enumerate(upstreams(server)) if upstream["running"]]


def unique_text(seed: int, words: int) -> str:
    rng = random.Random(seed)
    vocabulary = "river stone cloud lamp orchard violin harbor ledger copper meadow".split()
    return " ".join(rng.choice(vocabulary) for _ in range(words))


def test_a_request_that_fails_before_its_first_token_is_served_by_another_upstream(
    remote: Server, fleet: list[LlamaServer]
) -> None:
    remote.wait_idle()
    # A long new prompt: the upstream is still prefilling it when it is killed.
    prompt = [{"role": "user", "content": unique_text(time.time_ns(), 1500) + "\nSummarize."}]
    with httpx.Client(base_url=remote.base_url, headers=remote.headers(), timeout=120) as client:
        with client.stream("POST", "/v1/messages", json=body(prompt, 8, stream=True)) as response:
            events = named_events(response)
            name, _ = next(events)
            assert name == "message_start"
            [victim] = running_on(remote)
            fleet[victim].kill()
            rest = list(events)
    names = [name for name, _ in rest]
    assert "error" not in names and names[-1] == "message_stop", names
    # The answer may be empty (this random text can make the model end at once); what
    # matters is that it ended as an answer, not as an error.
    [delta] = [payload for name, payload in rest if name == "message_delta"]
    assert delta["delta"]["stop_reason"] in ("end_turn", "max_tokens")
    stats = upstreams(remote)
    assert not stats[victim]["healthy"] and stats[victim]["errors_total"] >= 1
    assert stats[1 - victim]["requests_total"] >= 1
    fleet[victim].start()
    wait_for(lambda: upstreams(remote)[victim]["healthy"], "the restarted upstream's return")


def test_an_upstream_killed_mid_run(remote: Server, fleet: list[LlamaServer]) -> None:
    """Its stream ends with an error event, a queued request moves to the survivor, new
    requests go there, and the upstream returns to the pool once restarted."""
    remote.wait_idle()
    outcomes: dict[str, Any] = {}

    def send(name: str, request: dict) -> None:
        response = httpx.post(f"{remote.base_url}/v1/messages", json=request,
                              headers=remote.headers(), timeout=300)
        outcomes[name] = response

    with httpx.Client(base_url=remote.base_url, headers=remote.headers(), timeout=300) as client:
        with client.stream("POST", "/v1/messages", json=body(COUNT, 1500, stream=True)) as response:
            events = named_events(response)
            deltas = 0
            for name, _ in events:
                deltas += name == "content_block_delta"
                if deltas == 3:
                    break
            [victim] = running_on(remote)
            survivor = 1 - victim
            second = threading.Thread(target=send, args=("second", body(COUNT, 150)))
            second.start()
            wait_for(lambda: len(running_on(remote)) == 2, "both upstreams busy")
            queued = threading.Thread(target=send, args=("queued", body(COUNT, 5)))
            queued.start()
            wait_for(lambda: remote.engine_stats()["waiting"] == 1, "a queued request")
            fleet[victim].kill()
            rest = [(name, payload) for name, payload in events]
    assert rest[-1][0] == "error", [name for name, _ in rest]
    assert rest[-1][1]["error"]["type"] == "api_error"
    second.join(timeout=300)
    queued.join(timeout=300)
    assert outcomes["second"].status_code == 200 and outcomes["queued"].status_code == 200
    fresh = httpx.post(f"{remote.base_url}/v1/messages", json=body(COUNT, 4),
                       headers=remote.headers(), timeout=120)
    assert fresh.status_code == 200
    stats = upstreams(remote)
    assert not stats[victim]["healthy"] and stats[victim]["ejections_total"] >= 1
    assert stats[survivor]["healthy"]

    fleet[victim].start()
    wait_for(lambda: upstreams(remote)[victim]["healthy"], "the restarted upstream's return")
    before = upstreams(remote)[victim]["requests_total"]
    threads = [threading.Thread(target=send, args=(f"after{n}", body(COUNT, 4))) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(outcomes[f"after{n}"].status_code == 200 for n in range(4))
    assert upstreams(remote)[victim]["requests_total"] > before


def test_a_client_that_disconnects_stops_the_upstream(
    remote: Server, fleet: list[LlamaServer]
) -> None:
    """A schema that holds the answer open for ~1,000 tokens (half a minute here): the
    upstream stops within seconds of the client leaving, long before it would have ended."""
    remote.wait_idle()
    long_answer = {"type": "object", "properties": {"story": {"type": "string", "minLength": 3000}},
                   "required": ["story"], "additionalProperties": False}
    request = body([{"role": "user", "content": "Tell me a long story."}], 1500, stream=True,
                   output_config={"format": {"type": "json_schema", "schema": long_answer}})
    with httpx.Client(base_url=remote.base_url, headers=remote.headers(), timeout=120) as client:
        with client.stream("POST", "/v1/messages", json=request) as response:
            for name, _ in named_events(response):
                if name == "content_block_delta" and sum(u.slots_processing() for u in fleet):
                    break  # the upstream is generating: leave now
            else:
                raise AssertionError("the answer ended before the upstream was seen generating")
    left = time.monotonic()
    wait_for(lambda: sum(upstream.slots_processing() for upstream in fleet) == 0,
             "the upstream to stop generating", timeout=10)
    assert time.monotonic() - left < 10
    remote.wait_idle()
    assert remote.engine_stats()["aborted_total"] >= 1


def conversation_turns(servers: list[Server], model: str, seed: int) -> float:
    """Three agent conversations of four turns each, one turn after another, each request
    sent to the next of `servers` in turn (a load balancer's round-robin over replicas);
    the share of their later turns' prompt tokens the upstreams found in their caches."""
    conversations = [
        [{"role": "user", "content": unique_text(seed + n, 300) + "\nWhat is this about?"}]
        for n in range(3)
    ]
    before = [server.engine_stats(model) for server in servers]
    for turn in range(4):
        if turn == 1:  # first turns are new to every upstream: count from the second on
            before = [server.engine_stats(model) for server in servers]
        for n, messages in enumerate(conversations):
            server = servers[(turn * len(conversations) + n) % len(servers)]
            answer = httpx.post(f"{server.base_url}/v1/messages", json=body(messages, 8, model),
                                headers=server.headers(), timeout=120).json()
            messages.append({"role": "assistant", "content": answer["content"][0]["text"] or "ok"})
            messages.append({"role": "user", "content": f"And point {turn} of {n}?"})
    after = [server.engine_stats(model) for server in servers]
    cached = sum(a["cached_prompt_tokens_total"] - b["cached_prompt_tokens_total"]
                 for a, b in zip(after, before))
    prefilled = sum(a["prompt_tokens_total"] - b["prompt_tokens_total"]
                    for a, b in zip(after, before))
    return cached / (cached + prefilled)


def test_affinity_keeps_each_conversation_where_its_cache_is(remote: Server) -> None:
    remote.wait_idle()
    affine = conversation_turns([remote], "affine", 1000)
    round_robin = conversation_turns([remote], "round-robin", 2000)
    print(f"\ncache hit ratio on turns 2-4: affinity {affine:.2f}, round-robin {round_robin:.2f}")
    assert affine >= 0.8
    assert affine > round_robin + 0.2


def test_replicas_sharing_redis_send_each_conversation_where_its_cache_is(
    fleet: list[LlamaServer], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two replicas in front of the same pool, on one PostgreSQL database and one Redis as
    a fleet of antiphon servers runs, each request going to the other replica than the last:
    a conversation's next turn arrives at a replica that never routed it, which reads from
    Redis where the other one sent it."""
    tmp = tmp_path_factory.mktemp("replicas")
    redis = redis_url()
    with postgres_database() as database:
        args = ["--model", pool_spec("affine", fleet, QUICK_CHECKS), "--database-url", database,
                "--redis-url", redis, "--secret", "one secret for every replica"]
        replicas = [start_server(tmp, f"replica-{n}", args, "affine") for n in (1, 2)]
        try:
            servers = [server for _, server in replicas]
            for server in servers:  # start-up says so
                assert "affinity routing shared with replicas through Redis" in " ".join(
                    server.log_path.read_text().split()), server.log_path.read_text()
            shared = conversation_turns(servers, "affine", 3000)
            # Each conversation's second turn arrives at the replica that never routed it:
            # it goes where the other one's memory in Redis says.
            guided = sum(upstream["routed_by_other_replicas_total"]
                         for server in servers for upstream in upstreams(server, "affine"))
        finally:
            for process, _ in replicas:
                stop_server(process)
    print(f"\ncache hit ratio on turns 2-4, alternating two replicas: {shared:.2f}; "
          f"{guided} of 9 later turns routed by what the other replica had sent")
    assert shared >= 0.8
    assert guided >= 3
