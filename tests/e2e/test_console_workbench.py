"""The Console's Workbench in a real browser (headless Chromium) against a real `antiphon
serve`: a `user`-role member limited to one workspace writes a prompt with a variable, runs
it streamed, sees the usage and the time to the first token, takes the Python code from
"Get code" and runs it with an API key, saves the prompt and reopens it; bad input is
refused with a clear message; the run's usage is the workspace's in the Admin API's report,
without a key; a workspace the member may not use, a forged call and a signed-out one are
refused in the API's error envelope."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright import sync_api as playwright_api

from tests.conftest import stop_server
from tests.e2e.console_browser import create_user, screenshot, sign_in
from tests.e2e.platform import PlatformServer, create_key, create_workspace, start_platform_server

MEMBER = ("writer@example.com", "a writer's own password")
SYSTEM = "You are a friendly assistant. Answer in one short sentence."
TURN = "Say hello to {{NAME}}."
USAGE_LINE = re.compile(r"Input tokens: (\d+) · Cache read: (\d+) · Cache write: (\d+) · "
                        r"Output tokens: (\d+) · Time to first token: \d+\.\d\d s")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    process, server = start_platform_server(tmp_path_factory.mktemp("workbench"), "workbench", None)
    yield server
    stop_server(process)


@pytest.fixture(scope="module")
def lab(platform: PlatformServer) -> dict:
    """The one workspace the member may use (a member of it, so limited to it), another
    one they may not, and an API key of the first for the code that "Get code" writes."""
    create_user(platform, MEMBER[0], "user", MEMBER[1])
    with platform.admin() as admin:
        workspace = create_workspace(admin, "Lab")
        user = admin.get("/v1/organizations/users", params={"email": MEMBER[0]}).json()["data"][0]
        added = admin.post(f"/v1/organizations/workspaces/{workspace['id']}/members",
                           json={"user_id": user["id"], "workspace_role": "workspace_user"})
        assert added.status_code == 200, added.text
        key = create_key(admin, "workbench code", workspace["id"])
        elsewhere = create_workspace(admin, "Elsewhere")
    return {"workspace": workspace, "key": key["key"], "elsewhere": elsewhere}


def _usage_without_key(platform: PlatformServer, workspace_id: str) -> list[dict]:
    """The Admin API's usage rows of the workspace that no key made, once written (the
    recorder writes in batches every half second)."""
    start = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    query = {"starting_at": start.isoformat().replace("+00:00", "Z"), "workspace_ids[]": workspace_id,
             "bucket_width": "1h", "group_by[]": ["api_key_id", "workspace_id"]}
    deadline = time.monotonic() + 10
    with platform.admin() as admin:
        while True:
            report = admin.get("/v1/organizations/usage_report/messages", params=query)
            assert report.status_code == 200, report.text
            rows = [row for bucket in report.json()["data"] for row in bucket["results"]
                    if row["api_key_id"] is None]
            if rows or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)


def _fill_prompt(page) -> None:
    page.get_by_label("System prompt").fill(SYSTEM)
    page.get_by_label("Message 1", exact=True).fill(TURN)
    page.get_by_label("NAME", exact=True).fill("Ada")
    page.get_by_label("Max tokens", exact=True).fill("32")
    page.get_by_label("Temperature").fill("0")


def test_a_member_runs_gets_code_and_saves_a_prompt(
    platform: PlatformServer, lab: dict, browser: playwright_api.Browser, shots: Path, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=platform.url)
    page = context.new_page()
    sign_in(page, platform.url, *MEMBER)
    page.get_by_role("navigation").get_by_role("link", name="Workbench").click()
    assert page.url.endswith("/console/workbench")
    workspace = page.get_by_label("Workspace")
    assert workspace.locator("option").all_inner_texts() == ["Lab"]  # only where they may work
    screenshot(page, shots, "20-workbench-empty")

    _fill_prompt(page)
    with page.expect_response("**/console/workbench/run") as ran:
        page.get_by_role("button", name="Run", exact=True).click()
    assert ran.value.status == 200 and ran.value.headers["content-type"].startswith("text/event-stream")
    answer = page.locator("#wb-answer .wb-block-text .wb-block-body")
    usage = page.locator("#wb-usage")
    playwright_api.expect(usage).to_contain_text("Time to first token", timeout=60_000)
    # The answer came as a stream of deltas, and the page shows their text.
    deltas = [json.loads(line[len("data: "):]) for line in ran.value.text().splitlines()
              if line.startswith("data: ") and '"content_block_delta"' in line]
    assert len(deltas) > 1
    streamed = "".join(delta["delta"]["text"] for delta in deltas if delta["delta"]["type"] == "text_delta")
    assert streamed.strip() and answer.text_content() == streamed
    assert page.locator("#wb-answer .wb-block-label").first.inner_text().lower() == "text"
    counted = USAGE_LINE.search(usage.inner_text())
    assert counted, usage.inner_text()
    input_tokens, output_tokens = int(counted[1]), int(counted[4])
    assert input_tokens > 0 and 0 < output_tokens <= 32
    screenshot(page, shots, "21-workbench-answer")

    # The run is the workspace's usage, without a key, with the counts the page showed.
    rows = _usage_without_key(platform, lab["workspace"]["id"])
    assert [(row["uncached_input_tokens"], row["output_tokens"], row["workspace_id"]) for row in rows] == [
        (input_tokens, output_tokens, lab["workspace"]["id"])]

    page.get_by_role("button", name="Get code").click()
    dialog = page.get_by_role("dialog", name="Get code")
    dialog.wait_for()
    dialog.get_by_role("button", name="Copy the Python code").click()
    dialog.get_by_text("Copied the Python code to the clipboard.").wait_for()
    python = page.evaluate("navigator.clipboard.readText()")
    assert python == dialog.get_by_label("Python", exact=True).input_value()
    assert "Say hello to Ada." in python and "max_tokens=32" in python and "{{NAME}}" not in python
    assert dialog.get_by_label("curl", exact=True).input_value().startswith("curl ")
    assert "@anthropic-ai/sdk" in dialog.get_by_label("TypeScript", exact=True).input_value()
    screenshot(page, shots, "22-workbench-code")
    program = tmp_path / "workbench_code.py"
    program.write_text(python)
    env = {**os.environ, "ANTHROPIC_API_KEY": lab["key"]}
    finished = subprocess.run([sys.executable, str(program)], env=env, capture_output=True, text=True,
                              timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert "TextBlock" in finished.stdout and "text=" in finished.stdout
    dialog.get_by_role("button", name="Close").click()

    page.get_by_label("Name", exact=True).fill("Greeting")
    page.get_by_role("button", name="Save prompt").click()
    page.get_by_text("Saved “Greeting”.").wait_for()
    page.goto(f"{platform.url}/console/workbench")
    page.get_by_role("link", name="Greeting").click()
    assert page.get_by_label("System prompt").input_value() == SYSTEM
    assert page.get_by_label("Message 1", exact=True).input_value() == TURN
    assert page.get_by_label("NAME", exact=True).input_value() == "Ada"
    assert page.get_by_label("Max tokens", exact=True).input_value() == "32"
    screenshot(page, shots, "23-workbench-reopened")
    page.get_by_role("button", name="Delete Greeting").click()
    assert page.url.endswith("/console/workbench")
    assert page.get_by_role("link", name="Greeting").count() == 0
    assert page.get_by_text("No saved prompts yet.").is_visible()
    context.close()


WEATHER_TOOL = [{"name": "get_weather", "description": "The weather in a city",
                 "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                  "required": ["city"]}}]


def test_tool_calls_and_thinking_are_shown_as_such(
    platform: PlatformServer, lab: dict, browser: playwright_api.Browser, shots: Path
) -> None:
    """A run that must call a tool shows a tool-use block with its schema-valid input, and
    one with extended thinking shows the thinking apart from the answer; the request each
    sent is what the form said."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(page, platform.url, *MEMBER)
    page.goto(f"{platform.url}/console/workbench")
    page.get_by_label("Message 1", exact=True).fill("What is the weather in Paris?")
    page.get_by_label("Max tokens", exact=True).fill("64")
    page.get_by_label("Temperature").fill("0")
    page.get_by_role("textbox", name="Tools").fill(json.dumps(WEATHER_TOOL))
    page.get_by_label("Tool choice").select_option("any")
    with page.expect_request("**/console/workbench/run") as sent:
        page.get_by_role("button", name="Run", exact=True).click()
    assert sent.value.post_data_json["tool_choice"] == {"type": "any"}
    usage = page.locator("#wb-usage")
    playwright_api.expect(usage).to_contain_text("Stop reason: tool_use", timeout=60_000)
    block = page.locator("#wb-answer .wb-block-tool_use")
    assert block.locator(".wb-block-label").text_content() == "Tool use: get_weather"
    assert isinstance(json.loads(block.locator(".wb-block-body").inner_text())["city"], str)
    screenshot(page, shots, "25-workbench-tool-use")

    page.get_by_role("textbox", name="Tools").fill("")
    page.get_by_label("Extended thinking").check()
    page.get_by_label("Thinking budget").fill("1024")
    page.get_by_label("Max tokens", exact=True).fill("1100")
    with page.expect_request("**/console/workbench/run") as sent:
        page.get_by_role("button", name="Run", exact=True).click()
    assert sent.value.post_data_json["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    thinking = page.locator("#wb-answer .wb-block-thinking")
    playwright_api.expect(thinking.locator(".wb-block-body")).not_to_be_empty(timeout=60_000)
    assert thinking.locator(".wb-block-label").text_content() == "Thinking"
    page.get_by_role("button", name="Stop", exact=True).click()  # a thousand tokens need not be waited for
    playwright_api.expect(page.get_by_text("Stopped.")).to_be_visible()

    page.get_by_label("Extended thinking").uncheck()
    page.get_by_label("Stop sequences").fill("Paris")
    with page.expect_request("**/console/workbench/run") as sent:
        page.get_by_role("button", name="Run", exact=True).click()
    assert sent.value.post_data_json["stop_sequences"] == ["Paris"]
    page.close()


def test_bad_input_is_refused_with_a_clear_message(
    platform: PlatformServer, lab: dict, browser: playwright_api.Browser, shots: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(page, platform.url, *MEMBER)
    page.goto(f"{platform.url}/console/workbench")
    _fill_prompt(page)
    page.get_by_label("NAME", exact=True).fill("")
    page.get_by_role("button", name="Run", exact=True).click()
    assert page.get_by_role("alert").inner_text() == "Fill in the variable {{NAME}} under Variables."
    page.get_by_label("NAME", exact=True).fill("Ada")

    page.get_by_role("textbox", name="Tools").fill('[{"name": "get_weather",')
    page.get_by_role("button", name="Run", exact=True).click()
    alert = page.get_by_role("alert")
    assert alert.inner_text().startswith("Tools is not valid JSON")
    assert page.evaluate("document.activeElement.id") == "wb-tools"
    screenshot(page, shots, "24-workbench-bad-tools")

    # Valid JSON that the API refuses: its error, in its envelope, shown in the page.
    page.get_by_role("textbox", name="Tools").fill('[{"name": "get_weather"}]')
    with page.expect_response("**/console/workbench/run") as ran:
        page.get_by_role("button", name="Run", exact=True).click()
    assert ran.value.status == 400 and ran.value.json()["error"]["type"] == "invalid_request_error"
    refused = page.locator("#wb-answer [role=alert]")
    refused.wait_for()
    assert refused.inner_text().startswith("invalid_request_error: ") and "input_schema" in refused.inner_text()
    page.close()


def test_other_workspaces_forged_and_signed_out_calls_are_refused(
    platform: PlatformServer, lab: dict, browser: playwright_api.Browser
) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, platform.url, *MEMBER)
    opened = page.goto(f"{platform.url}/console/workbench")
    assert opened is not None
    policy = opened.headers["content-security-policy"]
    assert "connect-src 'self'" in policy and "script-src 'self';" in policy and "unsafe" not in policy
    token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    cookie = next(c for c in context.cookies() if c["name"] == "antiphon_session")["value"]
    body = {"model": platform.server.model, "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}]}
    with httpx.Client(base_url=platform.url, cookies={"antiphon_session": cookie}, timeout=60) as client:
        def run(headers: dict[str, str]) -> httpx.Response:
            return client.post("/console/workbench/run", json=body, headers=headers)

        allowed = run({"x-csrf-token": token, "anthropic-workspace-id": lab["workspace"]["id"]})
        assert allowed.status_code == 200 and allowed.json()["type"] == "message"
        for headers, status, kind in [
            ({"x-csrf-token": token}, 403, "permission_error"),  # the default workspace: not theirs
            ({"x-csrf-token": token, "anthropic-workspace-id": lab["elsewhere"]["id"]}, 403, "permission_error"),
            ({"anthropic-workspace-id": lab["workspace"]["id"]}, 403, "permission_error"),  # no CSRF
            ({"x-csrf-token": "forged", "anthropic-workspace-id": lab["workspace"]["id"]}, 403, "permission_error"),
        ]:
            refused = run(headers)
            assert (refused.status_code, refused.json()["error"]["type"]) == (status, kind), refused.text
            assert refused.json()["request_id"].startswith("req_")
        for path, sent, problem in [
            ("/console/workbench/code", {**body, "max_tokens": "many"}, "max_tokens"),
            ("/console/workbench/code", {**body, "temperature": float("nan")}, "not valid JSON"),
            ("/console/workbench/prompts", {"name": "x" * 201, "prompt": {}}, "name"),
            ("/console/workbench/prompts", {"name": "odd", "prompt": {"unknown": 1}}, "unknown"),
        ]:
            refused = client.post(path, content=json.dumps(sent), headers={"x-csrf-token": token})
            assert refused.status_code == 400 and problem in refused.json()["error"]["message"], refused.text
        code = client.post("/console/workbench/code", json={**body, "stream": True}, headers={"x-csrf-token": token})
        assert code.status_code == 200 and '"stream"' not in code.json()["curl"]
        page.get_by_role("button", name="Sign out").click()
        after = run({"x-csrf-token": token, "anthropic-workspace-id": lab["workspace"]["id"]})
        assert after.status_code == 401 and after.json()["error"]["type"] == "authentication_error"
        saved = client.post("/console/workbench/prompts", json={"name": "late", "prompt": {}},
                            headers={"x-csrf-token": token})
        assert saved.status_code == 401
    context.close()
