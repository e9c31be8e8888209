"""Workspace members, as the Admin API's `/v1/organizations/workspaces/{id}/members` has
them, and what they mean for the Console.

A user's workspace memberships limit where they work in the Console: a member with none
works in every workspace (as before memberships existed), a member with some only in those;
an organisation admin works everywhere whatever their memberships. Which pages a member sees
stays their organisation role's to decide (admin, developer, user).
"""

from __future__ import annotations

from antiphon.errors import InvalidRequest, NotFound
from antiphon.ids import utc_now
from antiphon.protocol.members import WorkspaceMemberObject
from antiphon.services.members import MemberService
from antiphon.services.workspaces import WorkspaceService
from antiphon.store.pages import Page, PageRequest
from antiphon.store.tables import WorkspaceMemberRow
from antiphon.store.workspace_members import WorkspaceMemberStore

WORKSPACE_ROLES = ("workspace_admin", "workspace_billing", "workspace_developer",
                   "workspace_restricted_developer", "workspace_user")
ADDABLE_ROLES = tuple(role for role in WORKSPACE_ROLES if role != "workspace_billing")


def check_workspace_role(role: str, allowed: tuple[str, ...]) -> str:
    if role not in allowed:
        raise InvalidRequest(f"workspace_role: must be one of {', '.join(allowed)}, got {role!r}")
    return role


def workspace_member_object(member: WorkspaceMemberRow) -> WorkspaceMemberObject:
    return WorkspaceMemberObject(user_id=member.user_id, workspace_id=member.workspace_id,
                                 workspace_role=member.workspace_role)


class WorkspaceMemberService:
    def __init__(self, store: WorkspaceMemberStore, workspaces: WorkspaceService, members: MemberService) -> None:
        self._store = store
        self._workspaces = workspaces
        self._members = members

    async def add(self, workspace_id: str, user_id: str, role: str) -> WorkspaceMemberRow:
        role = check_workspace_role(role, ADDABLE_ROLES)
        await self._workspaces.active(workspace_id)
        await self._members.get_user(user_id)
        member = WorkspaceMemberRow(workspace_id=workspace_id, user_id=user_id, workspace_role=role,
                                    created_at=utc_now())
        await self._store.add(member)
        return member

    async def get(self, workspace_id: str, user_id: str) -> WorkspaceMemberRow:
        await self._workspaces.get(workspace_id)
        member = await self._store.get(workspace_id, user_id) if "\x00" not in user_id else None
        if member is None:
            raise NotFound(f"user_id: user {user_id!r} is not a member of workspace {workspace_id!r}")
        return member

    async def list(self, workspace_id: str, page: PageRequest) -> Page[WorkspaceMemberRow]:
        await self._workspaces.get(workspace_id)
        for cursor in (page.after_id, page.before_id):
            if cursor is not None and "\x00" in cursor:
                raise InvalidRequest(f"no object with id {cursor!r}")
        return await self._store.list(workspace_id, page)

    async def set_role(self, workspace_id: str, user_id: str, role: str) -> WorkspaceMemberRow:
        role = check_workspace_role(role, WORKSPACE_ROLES)
        await self.get(workspace_id, user_id)
        member = await self._store.set_role(workspace_id, user_id, role)
        if member is None:  # removed meanwhile
            raise NotFound(f"user_id: user {user_id!r} is not a member of workspace {workspace_id!r}")
        return member

    async def remove(self, workspace_id: str, user_id: str) -> None:
        await self.get(workspace_id, user_id)
        if not await self._store.remove(workspace_id, user_id):
            raise NotFound(f"user_id: user {user_id!r} is not a member of workspace {workspace_id!r}")



async def workspace_limits(store: WorkspaceMemberStore, user_id: str, role: str) -> frozenset[str] | None:
    """The workspaces a Console member may work in; None: all of them."""
    if role == "admin":
        return None
    workspace_ids = await store.workspaces_of(user_id)
    return frozenset(workspace_ids) if workspace_ids else None
