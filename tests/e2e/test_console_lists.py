"""The Console's batches, files and engine pages in a real browser (headless Chromium)
against a real `antiphon serve`: a batch and a file made with the official SDK are listed
with the API's status and counts, the batch's results download from the page byte for byte
as the API serves them, a running batch is canceled and a file deleted from the page, the
engine page's numbers move while a streamed request runs, and members without the role or
the workspace are refused. Screenshots of each page at a desktop and a phone width."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest
from playwright import sync_api as playwright_api

from tests.conftest import stop_server
from tests.e2e.console_browser import create_user, screenshot, sign_in
from tests.e2e.platform import (
    MODEL,
    PlatformServer,
    create_key,
    create_workspace,
    start_platform_server,
)

ADMIN = ("lists-admin@example.com", "correct horse battery")
MEMBER = ("lists-user@example.com", "a user's own password")
SCOPED = ("lists-dev@example.com", "a scoped developer's password")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    tmp = tmp_path_factory.mktemp("console-lists")
    process, server = start_platform_server(tmp, "console-lists", None)
    create_user(server, ADMIN[0], "admin", ADMIN[1])
    create_user(server, MEMBER[0], "user", MEMBER[1])
    yield server
    stop_server(process)


@pytest.fixture(scope="module")
def key(platform: PlatformServer) -> str:
    """An API key of the default workspace (the one the pages show first)."""
    with platform.admin() as admin:
        secret: str = create_key(admin, "lists")["key"]
        return secret


@pytest.fixture(scope="module")
def admin_page(platform: PlatformServer, browser: playwright_api.Browser) -> Iterator[playwright_api.Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    sign_in(page, platform.url, *ADMIN)
    assert page.url.endswith("/console/")
    yield page
    context.close()


def batch_request(custom_id: str, text: str, max_tokens: int = 8) -> dict:
    return {"custom_id": custom_id, "params": {
        "model": MODEL, "max_tokens": max_tokens, "temperature": 0.0,
        "messages": [{"role": "user", "content": text}]}}


def wait_until_ended(client: anthropic.Anthropic, batch_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while client.messages.batches.retrieve(batch_id).processing_status != "ended":
        assert time.monotonic() < deadline, f"batch {batch_id} has not ended"
        time.sleep(0.3)


def session_client(platform: PlatformServer, page: playwright_api.Page) -> httpx.Client:
    """httpx with the browser's session cookie (no redirects followed)."""
    cookie = next(c for c in page.context.cookies() if c["name"] == "antiphon_session")["value"]
    return httpx.Client(base_url=platform.url, cookies={"antiphon_session": cookie}, timeout=30)


def test_a_batch_is_listed_and_its_results_download(platform: PlatformServer, key: str,
                                                    admin_page: playwright_api.Page, shots: Path) -> None:
    client = platform.client(key)
    batch = client.messages.batches.create(requests=[  # type: ignore[arg-type]
        batch_request("greet", "Say hi"), batch_request("colour", "Name a colour")])
    page = admin_page
    page.get_by_role("navigation").get_by_role("link", name="Batches").click()
    row = page.get_by_role("row", name=batch.id)
    listed = row.inner_text()
    assert "in_progress" in listed and "processing 2" in listed or "ended" in listed and "succeeded 2" in listed

    wait_until_ended(client, batch.id)
    page.reload()
    listed = row.inner_text()
    assert "ended" in listed and "succeeded 2" in listed and "processing 0" in listed and "errored 0" in listed
    assert row.get_by_role("button", name=f"Cancel {batch.id}").count() == 0
    screenshot(page, shots, "40-batches")

    with page.expect_download() as download:
        row.get_by_role("link", name=f"Download the results of {batch.id} (JSONL)").click()
    downloaded = Path(download.value.path()).read_bytes()
    with platform.raw(key) as raw:
        assert downloaded == raw.get(f"/v1/messages/batches/{batch.id}/results").content
    from_page = {line["custom_id"]: line["result"] for line in map(json.loads, downloaded.splitlines())}
    from_sdk = {line.custom_id: line.result for line in client.messages.batches.results(batch.id)}
    assert sorted(from_page) == sorted(from_sdk) == ["colour", "greet"]
    for custom_id, result in from_sdk.items():
        assert result.type == from_page[custom_id]["type"] == "succeeded"
        assert result.message.content[0].text == from_page[custom_id]["message"]["content"][0]["text"]  # type: ignore[union-attr]


def test_a_running_batch_is_canceled_from_the_page(platform: PlatformServer, key: str,
                                                   admin_page: playwright_api.Page) -> None:
    client = platform.client(key)
    many = [batch_request(f"count-{i}", f"Count from {i} to {i + 40}", 48) for i in range(60)]
    batch = client.messages.batches.create(requests=many)  # type: ignore[arg-type]
    page = admin_page
    page.goto(f"{platform.url}/console/batches")
    page.get_by_role("row", name=batch.id).get_by_role("button", name=f"Cancel {batch.id}").click()
    assert page.url.endswith("/console/batches?workspace=" + page.get_by_label("Workspace").input_value())
    status = page.get_by_role("row", name=batch.id).inner_text()
    assert "canceling" in status or "ended" in status
    wait_until_ended(client, batch.id)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.request_counts.canceled > 0 and ended.request_counts.processing == 0


def test_a_file_is_listed_downloaded_and_deleted(platform: PlatformServer, key: str,
                                                 admin_page: playwright_api.Page, shots: Path) -> None:
    client = platform.client(key)
    content = b"pelicans are large\n" * 40
    uploaded = client.beta.files.upload(file=("pelicans.txt", content, "text/plain"))
    page = admin_page
    page.get_by_role("navigation").get_by_role("link", name="Files").click()
    row = page.get_by_role("row", name="pelicans.txt")
    listed = row.inner_text()
    assert uploaded.id in listed and "text/plain" in listed and "760 bytes" in listed and "yes" in listed
    screenshot(page, shots, "41-files")

    with page.expect_download() as download:
        row.get_by_role("link", name="Download pelicans.txt").click()
    assert download.value.suggested_filename == "pelicans.txt"
    assert Path(download.value.path()).read_bytes() == content

    with session_client(platform, page) as forged:  # a form without its CSRF token does nothing
        refused = forged.post(f"/console/files/{uploaded.id}/delete", data={"workspace": "x"})
        assert refused.status_code == 403
        unknown = forged.get("/console/files", params={"workspace": "wrkspc_nothing"})
        assert unknown.status_code == 404 and "no workspace" in unknown.text
        bad_cursor = forged.get("/console/files", params={"page": "not-a-cursor"})
        assert bad_cursor.status_code == 400 and "page" in bad_cursor.text
    row.get_by_role("button", name="Delete pelicans.txt").click()
    assert page.get_by_role("row", name="pelicans.txt").count() == 0
    with pytest.raises(anthropic.NotFoundError):
        client.beta.files.retrieve_metadata(uploaded.id)


def test_lists_page_with_the_apis_cursors(platform: PlatformServer, key: str,
                                          admin_page: playwright_api.Page) -> None:
    client = platform.client(key)
    names = [f"page-{i}.txt" for i in range(3)]
    for name in names:
        client.beta.files.upload(file=(name, name.encode(), "text/plain"))
    page = admin_page
    page.goto(f"{platform.url}/console/files?limit=2")
    assert page.get_by_role("row", name="page-2.txt").count() == 1
    assert page.get_by_role("row", name="page-0.txt").count() == 0
    page.get_by_role("navigation", name="File pages").get_by_role("link", name="Next page").click()
    assert page.get_by_role("row", name="page-0.txt").count() == 1
    assert page.get_by_role("row", name="page-2.txt").count() == 0
    page.get_by_role("navigation", name="File pages").get_by_role("link", name="Newer").click()
    assert page.get_by_role("row", name="page-2.txt").count() == 1


def _stream_until(client: anthropic.Anthropic, stop: threading.Event) -> None:
    while not stop.is_set():
        with client.messages.stream(model=MODEL, max_tokens=120, messages=[
                {"role": "user", "content": "Write a long story about a lighthouse keeper."}]) as stream:
            for _ in stream.text_stream:
                if stop.is_set():
                    break


def test_the_engine_page_moves_while_a_request_streams(platform: PlatformServer, key: str,
                                                       admin_page: playwright_api.Page, shots: Path) -> None:
    page = admin_page
    page.get_by_role("navigation").get_by_role("link", name="Engine").click()
    card = page.locator(f"[data-model='{MODEL}']")
    assert card.get_by_role("heading", level=2).count() == 1
    assert card.locator("[aria-live=polite]").count() == 1
    stop = threading.Event()
    streaming = threading.Thread(target=_stream_until, args=(platform.client(key), stop), daemon=True)
    streaming.start()
    try:
        with session_client(platform, page) as session:
            first = session.get("/console/engine.json").json()
            time.sleep(2.5)
            second = session.get("/console/engine.json").json()
        before, after = (next(m for m in view["models"] if m["id"] == MODEL) for view in (first, second))
        assert after["output_tokens_total"] > before["output_tokens_total"]
        assert after["texts"]["rate"] != "—" and float(after["texts"]["rate"]) > 0
        shown = card.locator("[data-stat=output_total]").inner_text()
        page.wait_for_function(  # the page's script writes the new count in place
            "([model, shown]) => document.querySelector(`[data-model='${model}'] [data-stat=output_total]`)"
            ".textContent !== shown", arg=[MODEL, shown], timeout=15_000)
        assert "Live" in page.locator("#engine-status").inner_text()
        assert card.locator("[data-stat=ttft_p50_total]").inner_text().endswith(("ms", " s"))
        screenshot(page, shots, "42-engine")
    finally:
        stop.set()
        streaming.join(timeout=60)
    pause = page.get_by_role("button", name="Pause updates")
    pause.focus()
    page.keyboard.press("Enter")
    assert page.get_by_role("button", name="Resume updates").get_attribute("aria-pressed") == "true"


def test_members_without_the_role_or_the_workspace_are_refused(
    platform: PlatformServer, browser: playwright_api.Browser, shots: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(page, platform.url, *MEMBER)
    assert page.get_by_role("navigation").get_by_role("link", name="Batches").count() == 0
    for path in ("/console/batches", "/console/files", "/console/engine", "/console/engine.json"):
        assert page.goto(f"{platform.url}{path}").status == 403, path
    screenshot(page, shots, "43-engine-forbidden")
    page.close()
    with httpx.Client(base_url=platform.url) as anonymous:  # no session: sign in first
        assert anonymous.get("/console/engine.json").headers["location"] == "/console/sign-in"

    with platform.admin() as admin:
        theirs, other = create_workspace(admin, "Lists A"), create_workspace(admin, "Lists B")
        create_user(platform, SCOPED[0], "developer", SCOPED[1])
        user_id = admin.get("/v1/organizations/users", params={"email": SCOPED[0]}).json()["data"][0]["id"]
        added = admin.post(f"/v1/organizations/workspaces/{theirs['id']}/members",
                           json={"user_id": user_id, "workspace_role": "workspace_developer"})
        assert added.status_code == 200, added.text
        foreign_key = create_key(admin, "lists b", other["id"])["key"]
    foreign_file = platform.client(foreign_key).beta.files.upload(file=("b.txt", b"team b", "text/plain"))
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(page, platform.url, *SCOPED)
    page.goto(f"{platform.url}/console/files")
    assert [o.strip() for o in page.get_by_label("Workspace").locator("option").all_inner_texts()] == ["Lists A"]
    assert page.goto(f"{platform.url}/console/files?workspace={other['id']}").status == 404
    download = f"/console/files/{foreign_file.id}/content?workspace={other['id']}"
    assert page.goto(f"{platform.url}{download}").status == 404
    page.close()
