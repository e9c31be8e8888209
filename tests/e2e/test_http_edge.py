"""Raw HTTP checks of the protocol edge: headers, auth, versions and the error envelope."""

from __future__ import annotations

import gzip
import json
import re

import httpx
import pytest

from tests.conftest import Server

MESSAGE = {"model": "smollm2-135m-instruct", "max_tokens": 4, "temperature": 0,
           "messages": [{"role": "user", "content": "Hi"}]}


def post(server: Server, body: object = None, headers: dict[str, str] | None = None,
         path: str = "/v1/messages", **kwargs: object) -> httpx.Response:
    merged = {**server.headers(), **(headers or {})}
    merged = {k: v for k, v in merged.items() if v is not None}
    if body is not None and "content" not in kwargs:
        kwargs["json"] = body
    return httpx.post(f"{server.base_url}{path}", headers=merged, timeout=60, **kwargs)  # type: ignore[arg-type]


def assert_error(response: httpx.Response, status: int, error_type: str, message: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert message in body["error"]["message"]
    assert body["request_id"] == response.headers["request-id"]
    assert "Traceback" not in response.text


def test_every_response_has_request_id_and_organization(server: Server) -> None:
    responses = [
        post(server, MESSAGE),
        post(server, MESSAGE, headers={"x-api-key": "wrong"}),
        httpx.get(f"{server.base_url}/nope"),
        httpx.get(f"{server.base_url}/health"),
    ]
    ids = {r.headers["request-id"] for r in responses}
    assert len(ids) == len(responses) and all(re.fullmatch(r"req_\w{24}", i) for i in ids)
    orgs = {r.headers["anthropic-organization-id"] for r in responses}
    assert len(orgs) == 1 and re.fullmatch(r"[0-9a-f-]{36}", orgs.pop())


def test_both_key_headers_are_accepted(server: Server) -> None:
    assert post(server, MESSAGE).status_code == 200
    bearer = {"x-api-key": None, "authorization": f"Bearer {server.api_key}"}
    assert post(server, MESSAGE, headers=bearer).status_code == 200  # type: ignore[arg-type]


def test_missing_and_wrong_keys_are_401(server: Server) -> None:
    assert_error(post(server, MESSAGE, headers={"x-api-key": None}), 401, "authentication_error", "x-api-key")  # type: ignore[dict-item]
    assert_error(post(server, MESSAGE, headers={"x-api-key": "sk-wrong"}), 401, "authentication_error", "invalid")
    bad_bearer = {"x-api-key": None, "authorization": "Bearer sk-wrong"}
    assert_error(post(server, MESSAGE, headers=bad_bearer), 401, "authentication_error")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("version", "message"),
    [(None, "required"), ("june", "not a valid version"), ("2023-02-30x", "not a valid version"),
     ("2022-12-31", "not a known version")],
)
def test_bad_anthropic_versions_are_400(server: Server, version: str | None, message: str) -> None:
    assert_error(post(server, MESSAGE, headers={"anthropic-version": version}), 400,  # type: ignore[dict-item]
                 "invalid_request_error", message)


def test_future_versions_and_betas_are_served(server: Server) -> None:
    headers = {"anthropic-version": "2031-01-01", "anthropic-beta": "some-beta-2030-01-01, other"}
    response = post(server, MESSAGE, headers=headers, params={"beta": "true"})
    assert response.status_code == 200 and response.json()["type"] == "message"
    headers = {"X-Stainless-Lang": "python", "anthropic-version": "2026-10-21"}
    assert post(server, MESSAGE, headers=headers).status_code == 200


def test_unknown_routes_and_wrong_methods(server: Server) -> None:
    assert_error(httpx.get(f"{server.base_url}/v1/nothing", headers=server.headers()), 404, "not_found_error")
    assert_error(httpx.get(f"{server.base_url}/nothing"), 404, "not_found_error")
    wrong = httpx.get(f"{server.base_url}/v1/messages", headers=server.headers())
    assert_error(wrong, 405, "invalid_request_error", "GET is not allowed")
    assert "POST" in wrong.headers["allow"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**MESSAGE, "max_tokens": "4"}, "max_tokens: Input should be a valid integer"),
        ({k: v for k, v in MESSAGE.items() if k != "max_tokens"}, "max_tokens: Field required"),
        ({**MESSAGE, "messages": []}, "messages: List should have at least 1 item"),
        ({**MESSAGE, "model": "gpt-4"}, "'gpt-4' is not served here"),
        ({**MESSAGE, "temperature": 2}, "temperature"),
        ({**MESSAGE, "stop_sequences": [""]}, "stop_sequences.0"),
        ({**MESSAGE, "stop_sequences": ["ok", "x" * 300]}, "stop_sequences.1: at most 256 characters"),
        ({**MESSAGE, "stop_sequences": [str(n) for n in range(65)]}, "stop_sequences: at most 64"),
        ({**MESSAGE, "messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        ({**MESSAGE, "system": 7}, "system"),
        ({**MESSAGE, "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}]}]},
         "messages.0.content.0.tool_use_id: `toolu_1` matches no tool_use block"),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(server: Server, body: dict, message: str) -> None:
    assert_error(post(server, body), 400, "invalid_request_error", message)


def test_malformed_and_empty_json(server: Server) -> None:
    assert_error(post(server, content=b"{nope"), 400, "invalid_request_error", "not valid JSON")
    assert_error(post(server, content=b""), 400, "invalid_request_error", "empty")
    assert_error(post(server, content=b"[]"), 400, "invalid_request_error", "JSON object")


def test_unknown_fields_and_block_keys_are_ignored(server: Server) -> None:
    body = {**MESSAGE, "brand_new_option": {"x": 1}, "context_management": None,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi", "novel_key": 1}]}]}
    assert post(server, body).status_code == 200


def test_bodies_over_32_mb_are_refused_with_413(server: Server) -> None:
    declared = post(server, content=b"x" * (32 * 1024 * 1024 + 1),
                    headers={"content-type": "application/json"})
    assert_error(declared, 413, "request_too_large")

    def chunks():  # no content-length: cut off while streaming in
        for _ in range(40):
            yield b" " * (1024 * 1024)

    assert_error(post(server, content=chunks()), 413, "request_too_large")


def test_a_compressed_body_is_refused_not_read_as_plain(server: Server) -> None:
    """415, whatever the encoding: never parsed as if it were plain, never inflated."""
    packed = gzip.compress(json.dumps(MESSAGE).encode())
    for encoding in ("gzip", "deflate, gzip", "br"):
        response = post(server, content=packed,
                        headers={"content-type": "application/json", "content-encoding": encoding})
        assert_error(response, 415, "invalid_request_error", "send the body uncompressed")
        assert response.headers["x-should-retry"] == "false"
    assert post(server, MESSAGE, headers={"content-encoding": "identity"}).status_code == 200


def test_prompt_longer_than_the_window_names_both_numbers(tight_server: Server) -> None:
    body = {**MESSAGE, "messages": [{"role": "user", "content": "word " * 800}]}
    response = post(tight_server, body)
    assert_error(response, 400, "invalid_request_error", "prompt is too long")
    assert re.search(r"\d+ tokens > 511 maximum", response.json()["error"]["message"])


def test_strict_mode_rejects_max_tokens_beyond_the_window(tight_server: Server) -> None:
    response = post(tight_server, {**MESSAGE, "max_tokens": 64000})
    assert_error(response, 400, "invalid_request_error", "max_tokens: 64000 >")


def test_count_tokens_validates_like_messages(server: Server) -> None:
    body = {k: v for k, v in MESSAGE.items() if k not in ("max_tokens", "temperature")}
    ok = post(server, body, path="/v1/messages/count_tokens")
    assert ok.status_code == 200 and ok.json()["input_tokens"] > 0
    assert_error(post(server, {**body, "model": "nope"}, path="/v1/messages/count_tokens"),
                 400, "invalid_request_error", "not served")
