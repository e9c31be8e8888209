"""The web Console in a real browser (headless Chromium) against a real `antiphon serve`:
signing in, workspaces and keys made through the pages and used with the official SDK, the
refusals (wrong password, forged forms, a role without access, a signed-out session), and
screenshots of every page at a desktop and a phone width."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest
from playwright import sync_api as playwright_api  # noqa: E402 (the test extra installs it)

from tests.conftest import stop_server
from tests.e2e.platform import PlatformServer, start_platform_server
from tests.services import unavailable

CHROMIUM = Path("/usr/bin/chromium")
ADMIN = ("admin@example.com", "correct horse battery")
MEMBER = ("member@example.com", "a user's own password")
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}
SHOTS_COPY = Path("/tmp/console-shots")


def create_user(platform: PlatformServer, email: str, role: str, password: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "antiphon", "users", "create", "--email", email, "--role", role,
         "--password-stdin", "--data-dir", str(platform.data_dir)],
        input=password + "\n", text=True, check=True, capture_output=True,
    )


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    tmp = tmp_path_factory.mktemp("console")
    process, server = start_platform_server(tmp, "console", None)
    create_user(server, ADMIN[0], "admin", ADMIN[1])
    create_user(server, MEMBER[0], "user", MEMBER[1])
    yield server
    stop_server(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():  # a laptop without it skips; CI installs it and fails without
        unavailable("no system Chromium at /usr/bin/chromium (Debian: apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("console-shots")
    shutil.rmtree(SHOTS_COPY, ignore_errors=True)
    SHOTS_COPY.mkdir(parents=True)
    return folder


def screenshot(page, shots: Path, name: str) -> None:
    """The page as it is now, at both widths (full length), into both folders."""
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        path = shots / f"{name}-{label}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        shutil.copy(path, SHOTS_COPY / path.name)
    page.set_viewport_size({"width": 1280, "height": 800})


def sign_in(page, url: str, email: str, password: str):
    page.goto(f"{url}/console/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    return page.get_by_role("button", name="Sign in").click()


def test_admin_manages_keys_that_the_sdk_uses(platform: PlatformServer, browser, shots: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    response = page.goto(f"{platform.url}/")
    assert page.url.endswith("/console/sign-in") and response.status == 200
    screenshot(page, shots, "01-sign-in")

    sign_in(page, platform.url, *ADMIN)
    assert page.url.endswith("/console/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Welcome")
    cookie = next(c for c in context.cookies() if c["name"] == "antiphon_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/console"
    assert not cookie["secure"]  # plain http here; https requests get Secure
    screenshot(page, shots, "02-home-admin")

    page.get_by_role("navigation").get_by_role("link", name="Workspaces").click()
    page.get_by_label("Name").fill("Research")
    page.get_by_role("button", name="Create workspace").click()
    assert page.get_by_role("row", name="Research").count() == 1
    screenshot(page, shots, "03-workspaces")

    page.get_by_role("navigation").get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("notebook")
    page.get_by_label("Workspace").select_option(label="Research")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("Secret key").input_value()
    assert secret.startswith("sk-")
    screenshot(page, shots, "04-key-created")

    client = anthropic.Anthropic(base_url=platform.url, api_key=secret, max_retries=0)
    assert client.models.list().data

    page.get_by_role("link", name="Back to API keys").click()
    row = page.get_by_role("row", name="notebook")
    assert "Research" in row.inner_text() and "active" in row.inner_text()
    screenshot(page, shots, "05-keys")
    row.get_by_role("button", name="Disable notebook").click()
    assert "inactive" in page.get_by_role("row", name="notebook").inner_text()
    with pytest.raises(anthropic.AuthenticationError):
        client.models.list()

    page.get_by_role("navigation").get_by_role("link", name="Workspaces").click()
    page.get_by_role("button", name="Archive Research and its keys").click()
    assert "archived" in page.get_by_role("row", name="Research").inner_text()
    page.get_by_role("navigation").get_by_role("link", name="API keys").click()
    assert "archived" in page.get_by_role("row", name="notebook").inner_text()

    forged = httpx.Client(base_url=platform.url, cookies={"antiphon_session": cookie["value"]})
    for fields in ({"name": "forged"}, {"name": "forged", "csrf_token": "not-the-token"}):
        refused = forged.post("/console/keys", data=fields)
        assert refused.status_code == 403, refused.text
        assert "form has expired" in refused.text
    assert page.get_by_role("row", name="forged").count() == 0

    page.get_by_role("button", name="Sign out").click()
    assert page.url.endswith("/console/sign-in")
    page.goto(f"{platform.url}/console/keys")
    assert page.url.endswith("/console/sign-in")
    after = forged.post("/console/workspaces", data={"name": "late", "csrf_token": "x"})
    assert after.status_code == 403
    context.close()


def test_wrong_password_is_refused_generically(platform: PlatformServer, browser, shots: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        sign_in(page, platform.url, ADMIN[0], "not the password")
    assert posted.value.status == 401
    assert page.get_by_role("alert").inner_text() == "Wrong email or password."
    screenshot(page, shots, "06-sign-in-refused")
    page.close()


def test_user_role_cannot_open_keys(platform: PlatformServer, browser, shots: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(page, platform.url, *MEMBER)
    assert "does not manage API keys" in page.get_by_role("main").inner_text()
    assert page.get_by_role("link", name="API keys").count() == 0
    screenshot(page, shots, "07-home-user")
    response = page.goto(f"{platform.url}/console/keys")
    assert response.status == 403
    screenshot(page, shots, "08-keys-forbidden")
    page.close()


def test_an_invite_opens_an_account_once(platform: PlatformServer, browser, shots: Path) -> None:
    """An admin invites through the Admin API; the invitee chooses a password on the invite
    page, lands signed in with the invited role, and the link does not work a second time."""
    with platform.admin() as admin:
        invited = admin.post("/v1/organizations/invites", json={"email": "dev@example.com", "role": "developer"})
    assert invited.status_code == 200, invited.text
    token = invited.json()["token"]
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{platform.url}/console/invite?token={token}")
    screenshot(page, shots, "09-invite")
    page.get_by_label("Your name").fill("Dev")
    page.get_by_label("Choose a password").fill("a developer's password")
    page.get_by_role("button", name="Create account and sign in").click()
    assert page.url.endswith("/console/")
    assert page.get_by_role("navigation").get_by_role("link", name="API keys").count() == 1  # developer
    page.get_by_role("button", name="Sign out").click()
    with page.expect_response(lambda r: r.request.method == "POST") as again:
        page.goto(f"{platform.url}/console/invite?token={token}")
        page.get_by_label("Choose a password").fill("another password here")
        page.get_by_role("button", name="Create account and sign in").click()
    assert again.value.status >= 400 and page.get_by_role("alert").count() == 1
    with platform.admin() as admin:
        members = admin.get("/v1/organizations/users", params={"email": "dev@example.com"}).json()["data"]
    assert [(member["email"], member["role"]) for member in members] == [("dev@example.com", "developer")]
    page.close()


def test_sign_in_rate_limit_says_how_long_to_wait(platform: PlatformServer) -> None:
    with httpx.Client(base_url=platform.url) as client:
        statuses = [client.post("/console/sign-in", data={"email": "nobody@example.com",
                                                           "password": "wrong"}).status_code
                    for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        limited = client.post("/console/sign-in", data={"email": "nobody@example.com", "password": "x"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "try again in" in limited.text


def test_console_off_leaves_only_the_api(tmp_path: Path) -> None:
    process, server = start_platform_server(tmp_path, "no-console", None, ["--no-console"])
    try:
        assert httpx.get(f"{server.url}/console/sign-in").status_code == 404
        assert httpx.get(f"{server.url}/", follow_redirects=False).status_code == 404
        assert server.admin().get("/v1/organizations/workspaces").status_code == 200
    finally:
        stop_server(process)
