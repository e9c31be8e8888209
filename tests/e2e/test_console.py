"""The web Console in a real browser (headless Chromium) against a real `antiphon serve`:
signing in, workspaces and keys made through the pages and used with the official SDK, the
refusals (wrong password, forged forms, a role without access, a signed-out session), and
screenshots of every page at a desktop and a phone width."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.conftest import stop_server
from tests.e2e.console_browser import create_user, screenshot, sign_in
from tests.e2e.platform import (
    ADMIN_KEY,
    PlatformServer,
    create_key,
    create_workspace,
    start_platform_server,
)

ADMIN = ("admin@example.com", "correct horse battery")
MEMBER = ("member@example.com", "a user's own password")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    tmp = tmp_path_factory.mktemp("console")
    process, server = start_platform_server(tmp, "console", None)
    create_user(server, ADMIN[0], "admin", ADMIN[1])
    create_user(server, MEMBER[0], "user", MEMBER[1])
    yield server
    stop_server(process)


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
    page.get_by_label("Name", exact=True).fill("Research")
    page.get_by_role("button", name="Create workspace").click()
    assert page.get_by_role("row", name="Research").count() == 1
    page.get_by_label("New name for Research").fill("Research lab")
    page.get_by_role("button", name="Rename Research").click()
    assert page.get_by_role("row", name="Research lab").count() == 1
    screenshot(page, shots, "03-workspaces")

    page.get_by_role("navigation").get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("notebook")
    page.get_by_label("Workspace").select_option(label="Research lab")
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
    page.get_by_role("button", name="Archive Research lab and its keys").click()
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


def test_a_developer_works_only_in_their_workspaces(platform: PlatformServer, browser, shots: Path) -> None:
    """A developer made a member of one workspace (through the Admin API) sees, opens,
    renames and keys only that workspace; another workspace's key is not found, a key for
    another workspace is refused, and only admins change workspaces."""
    with platform.admin() as admin:
        theirs, other = create_workspace(admin, "Team A"), create_workspace(admin, "Team B")
        own_key, foreign_key = create_key(admin, "team-a-key", theirs["id"]), create_key(admin, "team-b-key", other["id"])
    create_user(platform, "scoped@example.com", "developer", "a scoped developer")
    with platform.admin() as admin:
        user_id = admin.get("/v1/organizations/users", params={"email": "scoped@example.com"}).json()["data"][0]["id"]
        added = admin.post(f"/v1/organizations/workspaces/{theirs['id']}/members",
                           json={"user_id": user_id, "workspace_role": "workspace_developer"})
        assert added.status_code == 200, added.text
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, platform.url, "scoped@example.com", "a scoped developer")
    page.goto(f"{platform.url}/console/keys")
    assert page.get_by_role("row", name="team-a-key").count() == 1
    assert page.get_by_role("row", name="team-b-key").count() == 0
    assert [o.strip() for o in page.get_by_label("Workspace").locator("option").all_inner_texts()] == ["Team A"]

    page.get_by_role("link", name="team-a-key").click()
    assert page.get_by_role("heading", level=1).inner_text() == "team-a-key"
    screenshot(page, shots, "10-key")
    page.get_by_label("Name", exact=True).fill("team-a-notebook")
    page.get_by_role("button", name="Rename").click()
    assert page.get_by_role("heading", level=1).inner_text() == "team-a-notebook"
    with platform.admin() as admin:
        assert admin.get(f"/v1/organizations/api_keys/{own_key['id']}").json()["name"] == "team-a-notebook"

    assert page.goto(f"{platform.url}/console/keys/{foreign_key['id']}").status == 404
    cookie = next(c for c in context.cookies() if c["name"] == "antiphon_session")["value"]
    csrf = page.goto(f"{platform.url}/console/keys").ok and page.locator("input[name=csrf_token]").first.input_value()
    with httpx.Client(base_url=platform.url, cookies={"antiphon_session": cookie}) as forged:
        disabled = forged.post(f"/console/keys/{foreign_key['id']}", data={"action": "disable", "csrf_token": csrf})
        assert disabled.status_code == 404
        keyed = forged.post("/console/keys", data={"name": "sneaky", "workspace_id": other["id"], "csrf_token": csrf})
        assert keyed.status_code == 403
        made = forged.post("/console/workspaces", data={"name": "Team C", "csrf_token": csrf})
        assert made.status_code == 403
    with platform.admin() as admin:
        assert admin.get(f"/v1/organizations/api_keys/{foreign_key['id']}").json()["status"] == "active"

    page.get_by_role("navigation").get_by_role("link", name="Workspaces").click()
    assert page.get_by_role("heading", name="Your workspaces").count() == 1
    assert page.get_by_role("row", name="Team A").count() == 1 and page.get_by_role("row", name="Team B").count() == 0
    assert page.get_by_role("button", name="Create workspace").count() == 0
    context.close()


def test_sign_in_rate_limit_says_how_long_to_wait(platform: PlatformServer) -> None:
    with httpx.Client(base_url=platform.url) as client:
        statuses = [client.post("/console/sign-in", data={"email": "nobody@example.com",
                                                           "password": "wrong"}).status_code
                    for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        limited = client.post("/console/sign-in", data={"email": "nobody@example.com", "password": "x"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "try again in" in limited.text


def test_the_first_admin_comes_from_an_admin_key(tmp_path: Path, browser, shots: Path) -> None:
    """A server nobody can sign in to yet: the sign-in page offers the first-admin page, which
    takes an admin key (not an API key) once; afterwards it is closed."""
    process, server = start_platform_server(tmp_path, "first-admin", None)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{server.url}/console/sign-in")
        page.get_by_role("link", name="create the first admin with an admin key").click()
        screenshot(page, shots, "11-first-admin")
        fill = {"Admin key": server.server.api_key, "Your email": "owner@example.com",
                "Choose a password": "the owner's password"}
        for label, value in fill.items():
            page.get_by_label(label).fill(value)
        with page.expect_response(lambda r: r.request.method == "POST") as refused:
            page.get_by_role("button", name="Create admin and sign in").click()
        assert refused.value.status == 401
        assert page.get_by_role("alert").inner_text() == "That is not an active admin key of this server."

        page.get_by_label("Admin key").fill(ADMIN_KEY)
        page.get_by_label("Choose a password").fill("the owner's password")
        page.get_by_role("button", name="Create admin and sign in").click()
        assert page.url.endswith("/console/") and "owner@example.com" in page.get_by_role("banner").inner_text()
        with server.admin() as admin:
            (owner,) = admin.get("/v1/organizations/users", params={"email": "owner@example.com"}).json()["data"]
        assert owner["role"] == "admin"
        page.get_by_role("button", name="Sign out").click()
        assert page.get_by_role("link", name="create the first admin with an admin key").count() == 0
        assert page.goto(f"{server.url}/console/first-admin").status == 409
        again = httpx.post(f"{server.url}/console/first-admin", data={
            "admin_key": ADMIN_KEY, "email": "second@example.com", "password": "another long password"})
        assert again.status_code == 409
        page.close()
    finally:
        stop_server(process)


def test_console_off_leaves_only_the_api(tmp_path: Path) -> None:
    process, server = start_platform_server(tmp_path, "no-console", None, ["--no-console"])
    try:
        assert httpx.get(f"{server.url}/console/sign-in").status_code == 404
        assert httpx.get(f"{server.url}/", follow_redirects=False).status_code == 404
        assert server.admin().get("/v1/organizations/workspaces").status_code == 200
    finally:
        stop_server(process)
