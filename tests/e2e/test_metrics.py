"""`GET /metrics`: Prometheus text that a scraper parses, moving with real traffic."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server


def scrape(server: Server) -> dict[str, float]:
    response = httpx.get(f"{server.base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.labels.get("model") == server.model and "le" not in sample.labels:
                samples[sample.name] = sample.value
    return samples


def test_metrics_count_tokens_and_latencies_of_a_request(server: Server) -> None:
    server.wait_idle()
    before = scrape(server)
    body = {"model": server.model, "max_tokens": 8, "temperature": 0,
            "messages": [{"role": "user", "content": "Count to five."}]}
    response = httpx.post(f"{server.base_url}/v1/messages", json=body, headers=server.headers(), timeout=60)
    output = response.json()["usage"]["output_tokens"]
    after = scrape(server)
    assert after["antiphon_output_tokens_total"] - before["antiphon_output_tokens_total"] == output
    assert after["antiphon_prompt_tokens_total"] > before["antiphon_prompt_tokens_total"]
    assert after["antiphon_requests_completed_total"] == before["antiphon_requests_completed_total"] + 1
    assert after["antiphon_time_to_first_token_seconds_count"] == before["antiphon_time_to_first_token_seconds_count"] + 1
    assert after["antiphon_inter_token_latency_seconds_count"] >= before["antiphon_inter_token_latency_seconds_count"] + output - 1
    assert after["antiphon_time_to_first_token_seconds_sum"] > before["antiphon_time_to_first_token_seconds_sum"]
    assert after["antiphon_requests_waiting"] == 0 and after["antiphon_sequences_running"] == 0


def test_a_resent_conversation_reuses_the_cached_prefix_and_answers_the_same(server: Server) -> None:
    server.wait_idle()
    body = {"model": server.model, "max_tokens": 12, "temperature": 0,
            "messages": [{"role": "user", "content": "Name a large animal that lives in the sea."}]}
    url, headers = f"{server.base_url}/v1/messages", server.headers()
    first = httpx.post(url, json=body, headers=headers, timeout=60).json()
    before = scrape(server)
    second = httpx.post(url, json=body, headers=headers, timeout=60).json()
    after = scrape(server)
    assert second["content"] == first["content"]  # KV reuse changes nothing in the answer
    prompt = second["usage"]["input_tokens"]
    reused = after["antiphon_cached_prompt_tokens_total"] - before["antiphon_cached_prompt_tokens_total"]
    decoded = after["antiphon_prompt_tokens_total"] - before["antiphon_prompt_tokens_total"]
    assert reused == prompt - 1 and decoded == 1
