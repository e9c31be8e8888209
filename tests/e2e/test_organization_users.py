"""Organisation members end to end, on SQLite and on PostgreSQL: the official SDK's
`organization.users` and `organization.invites` against a real server, with users made by
`antiphon users create` on the same store."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import anthropic
import pytest
from anthropic.types.organization import AlreadyMemberError, InviteAlreadyExistsError

from tests.conftest import stop_server
from tests.e2e.platform import PlatformServer, start_platform_server
from tests.services import database_url

PASSWORD = "a long enough password"


@dataclass(frozen=True)
class Members:
    platform: PlatformServer
    database_url: str | None

    def sdk(self) -> anthropic.Anthropic:
        return self.platform.admin_sdk()

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        store = ["--data-dir", str(self.platform.data_dir)]
        if self.database_url is not None:
            store += ["--database-url", self.database_url]
        return subprocess.run([sys.executable, "-m", "antiphon", "users", *args, *store], input=stdin,
                              capture_output=True, text=True, timeout=60,
                              env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"})

    def create_user(self, email: str, role: str) -> str:
        made = self.cli("create", "--email", email, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
        return made.stdout.strip()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def members(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Members]:
    with database_url(request.param) as url:
        process, server = start_platform_server(tmp_path_factory.mktemp("members"), f"members-{request.param}", url)
        yield Members(server, url)
        stop_server(process)


def test_invites_are_created_listed_fetched_and_deleted(members: Members) -> None:
    sdk = members.sdk()
    invite = sdk.organization.invites.create(email=" Guest@Example.com ", role="developer")
    assert invite.id.startswith("invite_") and invite.type == "invite"
    assert (invite.email, invite.role, invite.status) == ("guest@example.com", "developer", "pending")
    assert invite.expires_at - invite.invited_at == timedelta(days=21) and invite.accepted_at is None
    assert invite.rbac_group_ids == []
    token = (invite.model_extra or {})["token"]  # shown at creation only
    assert token.startswith("antiphon-invite01-")

    fetched = sdk.organization.invites.retrieve(invite.id)
    assert fetched.model_dump(exclude={"token"}) == invite.model_dump(exclude={"token"})
    assert "token" not in (fetched.model_extra or {})
    assert [i.id for i in sdk.organization.invites.list(email="GUEST@example.com").data] == [invite.id]
    assert invite.id in [i.id for i in sdk.organization.invites.list(statuses=["pending"]).data]
    assert sdk.organization.invites.list(statuses=["accepted", "expired"]).data == []
    assert sdk.organization.invites.list(roles=["user"], email="guest@example.com").data == []

    with pytest.raises(InviteAlreadyExistsError) as twice:
        sdk.organization.invites.create(email="guest@example.com", role="user")
    assert invite.id in twice.value.message

    second = sdk.organization.invites.create(email="second@example.com", role="user")
    paged = list(sdk.organization.invites.list(limit=1))  # the SDK follows after_id
    assert [i.id for i in paged][:2] == [second.id, invite.id]
    deleted = sdk.organization.invites.delete(invite.id)
    assert (deleted.id, deleted.type) == (invite.id, "invite_deleted")
    with pytest.raises(anthropic.NotFoundError):
        sdk.organization.invites.retrieve(invite.id)
    with pytest.raises(anthropic.NotFoundError):
        sdk.organization.invites.delete(invite.id)


def test_a_user_made_in_the_terminal_is_listed_updated_and_removed(members: Members) -> None:
    sdk = members.sdk()
    user_id = members.create_user("Dev@Example.com", "developer")
    assert user_id.startswith("user_")
    (listed,) = sdk.organization.users.list(email="dev@example.com").data
    assert (listed.id, listed.type, listed.email, listed.name, listed.role) == (
        user_id, "user", "dev@example.com", "dev", "developer")
    assert sdk.organization.users.retrieve(user_id) == listed
    assert "dev@example.com" in members.cli("list").stdout

    with pytest.raises(AlreadyMemberError):
        sdk.organization.invites.create(email="dev@example.com", role="user")
    again = members.cli("create", "--email", "dev@example.com", "--password-stdin", stdin=PASSWORD)
    assert again.returncode == 1 and "already a member" in again.stderr

    assert sdk.organization.users.update(user_id, role="user").role == "user"
    assert [u.id for u in sdk.organization.users.list(roles=["user"]).data].count(user_id) == 1
    removed = sdk.organization.users.remove(user_id)
    assert (removed.id, removed.type) == (user_id, "user_deleted")
    with pytest.raises(anthropic.NotFoundError):
        sdk.organization.users.retrieve(user_id)
    assert sdk.organization.users.list(email="dev@example.com").data == []


def test_users_page_with_the_sdk(members: Members) -> None:
    made = [members.create_user(f"pager{i}@example.com", "user") for i in range(3)]
    sdk = members.sdk()
    every = [u.id for u in sdk.organization.users.list(limit=1)]
    assert [i for i in every if i in made] == list(reversed(made))  # newest first
    first = sdk.organization.users.list(limit=2)
    assert first.has_more and first.last_id == first.data[-1].id


def test_the_last_admin_is_neither_removed_nor_demoted(members: Members) -> None:
    sdk = members.sdk()
    first = members.create_user("first-admin@example.com", "admin")
    for admin in sdk.organization.users.list(roles=["admin"], limit=1000).data:
        if admin.id != first:
            sdk.organization.users.remove(admin.id)
    with pytest.raises(anthropic.BadRequestError, match="last admin"):
        sdk.organization.users.remove(first)
    with pytest.raises(anthropic.BadRequestError, match="last admin"):
        sdk.organization.users.update(first, role="developer")
    assert sdk.organization.users.retrieve(first).role == "admin"

    second = members.create_user("second-admin@example.com", "developer")
    assert sdk.organization.users.update(second, role="admin").role == "admin"
    assert sdk.organization.users.remove(first).type == "user_deleted"
    with pytest.raises(anthropic.BadRequestError, match="last admin"):
        sdk.organization.users.remove(second)


@pytest.mark.parametrize("role", ["billing", "claude_code_user", "owner", "wizard"])
def test_unsupported_roles_are_400s_naming_the_supported_ones(members: Members, role: str) -> None:
    sdk = members.sdk()
    with pytest.raises(anthropic.BadRequestError, match="admin, developer, user"):
        sdk.organization.invites.create(email=f"{role}@example.com", role=role)  # type: ignore[arg-type]
    user_id = members.create_user(f"{role}-member@example.com", "user")
    with pytest.raises(anthropic.BadRequestError, match="admin, developer, user"):
        sdk.organization.users.update(user_id, role=role)  # type: ignore[arg-type]
    refused = members.cli("create", "--email", f"{role}-cli@example.com", "--role", role,
                          "--password-stdin", stdin=PASSWORD)
    assert refused.returncode == 1 and "admin, developer, user" in refused.stderr


def test_malformed_member_requests_are_400s(members: Members) -> None:
    with members.platform.admin() as admin:
        for body in ({"email": "not-an-address", "role": "user"}, {"email": "x@example.com"},
                     {"email": "x@example.com", "role": "user", "rbac_group_ids": ["g"]},
                     {"email": "x@example.com", "role": "user", "workspace_id": "w"}):
            response = admin.post("/v1/organizations/invites", json=body)
            assert response.status_code == 400, (body, response.text)
            assert response.json()["error"]["type"] == "invalid_request_error"
        for params in ({"roles[]": "wizard"}, {"statuses[]": "deleted"}, {"limit": "0"}, {"after_id": "invite_nope"}):
            assert admin.get("/v1/organizations/invites", params=params).status_code == 400, params
        assert admin.get("/v1/organizations/users", params={"email": "@"}).status_code == 400
        # NUL names nothing (and PostgreSQL's text cannot hold it): never a 500.
        assert admin.get("/v1/organizations/users/user_%00x").status_code == 404
        assert admin.delete("/v1/organizations/invites/invite_%00x").status_code == 404
        for params in ({"email": "a\x00@example.com"}, {"after_id": "user_\x00"}):
            assert admin.get("/v1/organizations/users", params=params).status_code == 400, params
        assert admin.post("/v1/organizations/users/user_nope", json={"role": "user"}).status_code == 404
        assert admin.delete("/v1/organizations/users/user_nope").status_code == 404
    weak = members.cli("create", "--email", "weak@example.com", "--password-stdin", stdin="short\n")
    assert weak.returncode == 1 and "password" in weak.stderr


def test_api_keys_and_strangers_are_refused(members: Members) -> None:
    api = members.platform.client(members.platform.server.api_key)
    with pytest.raises(anthropic.PermissionDeniedError):
        api.organization.users.list()
    with pytest.raises(anthropic.PermissionDeniedError):
        api.organization.invites.create(email="sneaky@example.com", role="user")
    stranger = members.platform.client("sk-antiphon-not-a-key")
    with pytest.raises(anthropic.AuthenticationError):
        stranger.organization.invites.list()


def test_workspace_members_are_added_listed_changed_and_removed(members: Members) -> None:
    sdk = members.sdk()
    workspace = sdk.organization.workspaces.create(name="Members lab")
    wanted = [members.create_user(f"crew{i}@example.com", "developer") for i in range(3)]
    for user_id in wanted:
        added = sdk.organization.workspaces.members.add(
            workspace.id, user_id=user_id, workspace_role="workspace_developer")
        assert (added.type, added.user_id, added.workspace_id, added.workspace_role) == (
            "workspace_member", user_id, workspace.id, "workspace_developer")
    paged = [m.user_id for m in sdk.organization.workspaces.members.list(workspace.id, limit=2)]
    assert paged == list(reversed(wanted))  # newest first, the SDK following after_id
    fetched = sdk.organization.workspaces.members.retrieve(wanted[0], workspace_id=workspace.id)
    assert fetched.workspace_role == "workspace_developer"

    changed = sdk.organization.workspaces.members.update(
        wanted[0], workspace_id=workspace.id, workspace_role="workspace_billing")
    assert changed.workspace_role == "workspace_billing"
    removed = sdk.organization.workspaces.members.remove(wanted[0], workspace_id=workspace.id)
    assert (removed.type, removed.user_id, removed.workspace_id) == (
        "workspace_member_deleted", wanted[0], workspace.id)
    with pytest.raises(anthropic.NotFoundError):
        sdk.organization.workspaces.members.retrieve(wanted[0], workspace_id=workspace.id)

    sdk.organization.users.remove(wanted[1])  # leaving the organisation leaves its workspaces
    assert [m.user_id for m in sdk.organization.workspaces.members.list(workspace.id).data] == [wanted[2]]


def test_workspace_member_requests_that_cannot_be_done_are_refused(members: Members) -> None:
    sdk = members.sdk()
    workspace = sdk.organization.workspaces.create(name="Refusals lab")
    user_id = members.create_user("refused-member@example.com", "user")
    with pytest.raises(anthropic.BadRequestError, match="workspace_role"):
        sdk.organization.workspaces.members.add(workspace.id, user_id=user_id,
                                                workspace_role="workspace_billing")  # type: ignore[arg-type]
    sdk.organization.workspaces.members.add(workspace.id, user_id=user_id, workspace_role="workspace_user")
    with pytest.raises(anthropic.BadRequestError, match="already a member"):
        sdk.organization.workspaces.members.add(workspace.id, user_id=user_id, workspace_role="workspace_admin")
    with pytest.raises(anthropic.NotFoundError):
        sdk.organization.workspaces.members.add(workspace.id, user_id="user_nope", workspace_role="workspace_user")
    with pytest.raises(anthropic.NotFoundError):
        sdk.organization.workspaces.members.list("wrkspc_nope")
    with pytest.raises(anthropic.BadRequestError, match="workspace_role"):
        sdk.organization.workspaces.members.update(user_id, workspace_id=workspace.id,
                                                   workspace_role="owner")  # type: ignore[arg-type]
    with members.platform.admin() as admin:
        base = f"/v1/organizations/workspaces/{workspace.id}/members"
        assert admin.post(base, json={"user_id": user_id}).status_code == 400
        assert admin.get(base + "/user_%00x").status_code == 404
        assert admin.get(base, params={"after_id": "user_\x00"}).status_code == 400
        assert admin.delete(base + "/user_nope").status_code == 404
    sdk.organization.workspaces.archive(workspace.id)
    other = members.create_user("late-member@example.com", "user")
    with pytest.raises(anthropic.BadRequestError, match="archived"):
        sdk.organization.workspaces.members.add(workspace.id, user_id=other, workspace_role="workspace_user")
    api = members.platform.client(members.platform.server.api_key)
    with pytest.raises(anthropic.PermissionDeniedError):
        api.organization.workspaces.members.list(workspace.id)
