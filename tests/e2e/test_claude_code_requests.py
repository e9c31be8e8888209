"""Every request Claude Code was seen to send (tests/fixtures/claude_code/) is taken in
stride: counted as is, with its betas, schemas, deferred tools and tool_reference blocks."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server

FIXTURES = Path(__file__).parents[1] / "fixtures" / "claude_code"
# The two captures a faithful server must refuse: a server tool it does not run, and a
# thinking signature that the capturing fake server made up.
REFUSED = {
    "web_search_subrequest.json": "tools.0.type: `web_search_20250305` is a server tool",
    "thinking_tool_result_turn.json": ".signature",
}


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.glob("*.json")))
def test_captured_request_is_counted_or_refused_for_its_one_real_reason(
    server: Server, name: str
) -> None:
    capture = json.loads((FIXTURES / name).read_text())
    body = {**capture["body"], "model": "smollm2-135m-instruct"}
    headers = {**server.headers(), "anthropic-beta": capture["headers"].get("anthropic-beta", "")}
    response = httpx.post(
        f"{server.base_url}/v1/messages/count_tokens?beta=true", json=body, headers=headers
    )
    if name in REFUSED:
        assert response.status_code == 400, response.text
        assert REFUSED[name] in response.json()["error"]["message"]
    else:
        assert response.status_code == 200, response.text
        assert response.json()["input_tokens"] > 100
