"""The Console's usage and limits pages in a real browser (headless Chromium) against a real
`antiphon serve`: a workspace and a key made through the pages, used with the official SDK;
the usage page shows that request's tokens and cost exactly as the Admin API's usage and
cost reports do; a rate limit set on the limits page is shown with its use, and a spend limit
set there stops the key's next request (402) until it is removed. Bad input is a 400 page, a
developer sees only their workspaces' usage and cannot change limits. Screenshots of both
pages at a desktop and a phone width."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import anthropic
import httpx
import pytest
from playwright import sync_api as playwright_api

from tests.conftest import stop_server
from tests.e2e.console_browser import create_user, screenshot, sign_in
from tests.e2e.platform import MODEL, PlatformServer, ask, create_workspace, start_platform_server

ADMIN = ("usage-admin@example.com", "correct horse battery")
DEVELOPER = ("usage-dev@example.com", "a developer's own password")
# One cent per input token, two per output token: one short request costs far more than $0.01.
PRICES = {MODEL: {"input": 10_000, "output": 20_000}}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    tmp = tmp_path_factory.mktemp("console-usage")
    process, server = start_platform_server(tmp, "console-usage", None, env={"ANTIPHON_PRICES": json.dumps(PRICES)})
    create_user(server, ADMIN[0], "admin", ADMIN[1])
    create_user(server, DEVELOPER[0], "developer", DEVELOPER[1])
    yield server
    stop_server(process)


def _reports(platform: PlatformServer, workspace_id: str, want_output: int) -> tuple[dict[str, int], float]:
    """The Admin API's token sums and cost (cents) for the workspace today, once the usage
    writer has stored `want_output` output tokens (it writes every half second)."""
    start = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z")
    params = {"starting_at": start, "workspace_ids[]": workspace_id, "group_by[]": "workspace_id"}
    deadline = time.monotonic() + 15
    with platform.admin() as admin:
        while True:
            usage = admin.get("/v1/organizations/usage_report/messages", params=params).json()
            results = [row for bucket in usage["data"] for row in bucket["results"]]
            tokens = {name: sum(row[name] for row in results)
                      for name in ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens")}
            tokens["cache_writes"] = sum(sum(row["cache_creation"].values()) for row in results)
            if tokens["output_tokens"] >= want_output or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        cost = admin.get("/v1/organizations/cost_report", params=params).json()
    cents = sum(float(row["amount"]) for bucket in cost["data"] for row in bucket["results"])
    return tokens, cents


def _cells(page: playwright_api.Page, row_name: str) -> list[str]:
    return page.locator("#usage-totals").get_by_role("row", name=row_name).locator("td").all_inner_texts()


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_usage_matches_the_reports_and_limits_stop_the_key(
    platform: PlatformServer, browser: playwright_api.Browser, shots: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, platform.url, *ADMIN)
    page.get_by_role("navigation").get_by_role("link", name="Workspaces").click()
    page.get_by_label("Name", exact=True).fill("Usage team")
    page.get_by_role("button", name="Create workspace").click()
    page.get_by_role("navigation").get_by_role("link", name="API keys").click()
    page.get_by_label("Name", exact=True).fill("usage-key")
    page.get_by_label("Workspace").select_option(label="Usage team")
    page.get_by_role("button", name="Create key").click()
    client = platform.client(page.get_by_label("Secret key").input_value())
    answer = ask(client, "Say hello to the usage page", max_tokens=16)

    page.get_by_role("navigation").get_by_role("link", name="Workspaces").click()
    workspace_id = page.get_by_role("row", name="Usage team").locator("code").inner_text()
    tokens, cents = _reports(platform, workspace_id, answer.usage.output_tokens)
    assert tokens["uncached_input_tokens"] == answer.usage.input_tokens
    assert tokens["output_tokens"] == answer.usage.output_tokens

    page.get_by_role("navigation").get_by_role("link", name="Usage").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Usage and cost"
    page.get_by_label("Group by").select_option(label="Workspace")
    page.get_by_role("button", name="Show").click()
    assert "group=workspace" in page.url  # a GET form: the view is a link to share
    uncached, writes, reads, output, total, cost = _cells(page, "Usage team")
    assert (_number(uncached), _number(writes), _number(reads), _number(output)) == (
        tokens["uncached_input_tokens"], tokens["cache_writes"], tokens["cache_read_input_tokens"],
        tokens["output_tokens"])
    assert _number(total) == sum(tokens.values())
    assert cost == (f"${cents / 100:,.4f}" if cents < 100 else f"${cents / 100:,.2f}")  # as the cost report
    charts = page.get_by_role("img")
    assert charts.count() == 3 and "Tokens by workspace" in (charts.nth(1).get_attribute("aria-label") or "")
    screenshot(page, shots, "usage-01-usage")

    page.get_by_label("Group by").select_option(label="API key")
    page.get_by_role("button", name="Show").click()
    assert _number(_cells(page, "usage-key")[3]) == answer.usage.output_tokens

    page.get_by_role("navigation").get_by_role("link", name="Workspaces").click()
    page.get_by_role("link", name="Limits of Usage team").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Limits of Usage team"
    page.get_by_label("Requests per minute").fill("0")
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.get_by_role("button", name="Save rate limits").click()
    assert refused.value.status == 400 and "Requests per minute" in page.get_by_role("alert").inner_text()
    page.get_by_label("Requests per minute").fill("2")
    page.get_by_role("button", name="Save rate limits").click()
    assert page.get_by_role("status").inner_text() == "Rate limits saved."
    with platform.admin() as admin:
        limits = admin.get(f"/v1/organizations/workspaces/{workspace_id}/rate_limits").json()["data"][0]["limits"]
    assert [(limit["type"], limit["value"]) for limit in limits] == [("requests_per_minute", 2)]
    ask(client, max_tokens=4)  # takes one of the two: it refills in 30 seconds
    page.reload()
    requests = page.locator("#rate-limits").get_by_role("row", name="Requests per minute").inner_text()
    assert "1 of 2" in requests and "this workspace" in requests

    page.get_by_label("Monthly limit (US dollars)").fill("one cent")
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.get_by_role("button", name="Save spend limit").click()
    assert refused.value.status == 400 and "Monthly limit" in page.get_by_role("alert").inner_text()
    page.get_by_label("Monthly limit (US dollars)").fill("0.01")
    page.get_by_role("button", name="Save spend limit").click()
    assert page.get_by_role("status").inner_text() == "Spend limit saved."
    assert page.locator("#spend-status").inner_text().endswith("of a limit of $0.01")
    assert "limit is reached" in page.get_by_role("alert").inner_text()
    screenshot(page, shots, "usage-02-limits")
    with pytest.raises(anthropic.APIStatusError) as stopped:
        ask(client)
    assert stopped.value.status_code == 402
    assert stopped.value.body["error"]["type"] == "billing_error"  # type: ignore[index]
    with platform.admin() as admin:
        assert admin.get(f"/v1/organizations/workspaces/{workspace_id}/spend_limit").json()["amount"] == "1"

    page.get_by_role("button", name="Remove limit").click()
    assert "(no limit)" in page.locator("#spend-status").inner_text()
    assert ask(client, max_tokens=4).usage.output_tokens > 0
    context.close()


def test_bad_ranges_are_refused_on_the_page(platform: PlatformServer) -> None:
    with httpx.Client(base_url=platform.url) as client:
        assert client.post("/console/sign-in", data={"email": ADMIN[0], "password": ADMIN[1]}).status_code == 303
        for params, wording in (({"start": "2026-13-01"}, "Start date: not a date"),
                                ({"start": "2026-03-05", "end": "2026-03-01"}, "must not be after"),
                                ({"start": "2024-01-01", "end": "2026-01-01"}, "at most 366 days"),
                                ({"start": "2026-03-01", "end": "2026-03-10", "width": "hour"}, "hours are for"),
                                ({"group": "planet"}, "Group by"), ({"end": "9999-12-31"}, "End date")):
            response = client.get("/console/usage", params=params)
            assert response.status_code == 400 and wording in response.text, (params, response.text[-600:])
        hourly = client.get("/console/usage", params={"start": "2026-03-01", "end": "2026-03-02"})
        assert hourly.status_code == 200 and "per hour" in hourly.text
        assert client.get("/console/workspaces/wrkspc_nope/limits").status_code == 404


def test_a_developer_sees_only_their_workspaces(
    platform: PlatformServer, browser: playwright_api.Browser, shots: Path
) -> None:
    """Usage of workspaces the developer is not a member of is left out; another
    workspace's limits are not found; their own workspace's limits are shown read-only."""
    with platform.admin() as admin:
        theirs = create_workspace(admin, "Dev corner")
        user_id = admin.get("/v1/organizations/users", params={"email": DEVELOPER[0]}).json()["data"][0]["id"]
        added = admin.post(f"/v1/organizations/workspaces/{theirs['id']}/members",
                           json={"user_id": user_id, "workspace_role": "workspace_developer"})
        assert added.status_code == 200, added.text
        usage_team = next(w for w in admin.get("/v1/organizations/workspaces").json()["data"]
                          if w["name"] == "Usage team")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, platform.url, *DEVELOPER)
    page.get_by_role("navigation").get_by_role("link", name="Usage").click()
    assert page.get_by_role("row", name="Usage team").count() == 0
    assert "No usage in this range" in page.get_by_role("main").inner_text()
    assert page.goto(f"{platform.url}/console/workspaces/{usage_team['id']}/limits").status == 404
    assert page.goto(f"{platform.url}/console/workspaces/{theirs['id']}/limits").status == 200
    assert "Only an admin" in page.get_by_role("main").inner_text()
    assert page.get_by_role("button", name="Save rate limits").count() == 0
    screenshot(page, shots, "usage-03-limits-developer")
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    cookie = next(c for c in context.cookies() if c["name"] == "antiphon_session")["value"]
    with httpx.Client(base_url=platform.url, cookies={"antiphon_session": cookie}) as forged:
        posted = forged.post(f"/console/workspaces/{theirs['id']}/limits/spend", data={"amount": "5", "csrf_token": csrf})
        assert posted.status_code == 403
    context.close()
