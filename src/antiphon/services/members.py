"""The organisation's members: users and their invites, for the Admin API and the CLI.

Roles are those of the SDK's `OrganizationRole` that mean something on this server: admin,
developer and user. The others (billing, claude_code_user, managed, owner, …) belong to
the hosted Console's products and are refused by name. An email is one member however it
was typed (trimmed, lower case). An invite holds for 21 days; its one-time token is shown
once, at creation, and only its digest is stored. The last admin is neither removed nor
demoted (store/members.py keeps that rule under concurrent requests).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from antiphon.errors import AlreadyMember, InvalidRequest, InviteAlreadyExists, NotFound
from antiphon.ids import new_id, random_token, rfc3339, utc_now
from antiphon.protocol.members import InviteObject, InviteStatus, UserObject
from antiphon.services.passwords import check_password_policy, hash_password
from antiphon.store.members import InviteStore, UserStore
from antiphon.store.pages import Page, PageRequest
from antiphon.store.tables import InviteRow, UserRow

ROLES = ("admin", "developer", "user")
SDK_ROLES = ("admin", "billing", "claude_code_user", "developer", "managed", "membership_admin",
             "owner", "primary_owner", "user")
INVITE_STATUSES = ("accepted", "expired", "pending")
INVITE_LIFETIME = timedelta(days=21)
INVITE_TOKEN_PREFIX = "antiphon-invite01-"
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")


def _storable(text: str) -> bool:
    """PostgreSQL text holds no NUL: such an id names nothing, and must not reach a query."""
    return "\x00" not in text


def _checked_page(page: PageRequest) -> PageRequest:
    for which, cursor in (("after_id", page.after_id), ("before_id", page.before_id)):
        if cursor is not None and not _storable(cursor):
            raise InvalidRequest(f"{which}: no object with id {cursor!r}")
    return page


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    if len(email) > 320 or not _EMAIL.match(email):
        raise InvalidRequest(f"email: not an email address: {raw!r}")
    return email


def check_role(role: str) -> str:
    if role in ROLES:
        return role
    known = "is not supported by this server" if role in SDK_ROLES else "is not a role"
    raise InvalidRequest(f"role: {role!r} {known}; the supported roles are {', '.join(ROLES)}")


def check_role_filter(roles: Sequence[str]) -> list[str]:
    """A filter may name any SDK role (those this server never assigns match nobody)."""
    for role in roles:
        if role not in SDK_ROLES:
            raise InvalidRequest(f"roles: {role!r} is not a role; roles are {', '.join(SDK_ROLES)}")
    return list(roles)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def user_object(user: UserRow) -> UserObject:
    return UserObject(id=user.id, email=user.email, name=user.name, role=user.role,
                      added_at=rfc3339(user.created_at))


def invite_status(invite: InviteRow, now: datetime) -> InviteStatus:
    if invite.accepted_at is not None:
        return "accepted"
    return "expired" if invite.expires_at <= now else "pending"


def invite_object(invite: InviteRow, now: datetime) -> InviteObject:
    return InviteObject(
        id=invite.id, email=invite.email, role=invite.role, status=invite_status(invite, now),
        invited_at=rfc3339(invite.created_at), expires_at=rfc3339(invite.expires_at),
        accepted_at=rfc3339(invite.accepted_at) if invite.accepted_at else None,
    )


class MemberService:
    def __init__(self, users: UserStore, invites: InviteStore) -> None:
        self._users = users
        self._invites = invites

    async def create_user(self, email: str, name: str | None, role: str, password: str) -> UserRow:
        """A member made by an operator (`antiphon users create`), who can sign in at once."""
        email, role = normalize_email(email), check_role(role)
        check_password_policy(password)
        password_hash = await asyncio.to_thread(hash_password, password)
        user = UserRow(id=new_id("user"), email=email, name=member_name(name, email), role=role,
                       password_hash=password_hash, created_at=utc_now())
        await self._users.add(user)
        return user

    async def get_user(self, user_id: str) -> UserRow:
        user = await self._users.get(user_id) if _storable(user_id) else None
        if user is None:
            raise NotFound(f"user_id: no user with id {user_id!r}")
        return user

    async def list_users(self, page: PageRequest, email: str | None, roles: Sequence[str]) -> Page[UserRow]:
        wanted = normalize_email(email) if email is not None else None
        return await self._users.list(_checked_page(page), wanted, check_role_filter(roles))

    async def set_role(self, user_id: str, role: str) -> UserRow:
        role = check_role(role)
        user = await self._users.set_role(user_id, role) if _storable(user_id) else None
        if user is None:
            raise NotFound(f"user_id: no user with id {user_id!r}")
        return user

    async def remove_user(self, user_id: str) -> UserRow:
        """Removes the user and every Console session of theirs."""
        user = await self._users.remove(user_id) if _storable(user_id) else None
        if user is None:
            raise NotFound(f"user_id: no user with id {user_id!r}")
        return user

    async def create_invite(self, email: str, role: str) -> tuple[InviteRow, str]:
        """The invite and its token (shown this once)."""
        email, role, now = normalize_email(email), check_role(role), utc_now()
        member = await self._users.by_email(email)
        if member is not None:
            raise AlreadyMember(f"email: {email!r} is already a member of the organization ({member.id})")
        pending = await self._invites.pending_for(email, now)
        if pending is not None:
            raise InviteAlreadyExists(f"email: a pending invite for {email!r} exists already ({pending.id})")
        token = INVITE_TOKEN_PREFIX + random_token(43)  # 43 base62 characters: 256 bits
        invite = InviteRow(id=new_id("invite"), email=email, role=role, token_sha256=token_digest(token),
                           created_at=now, expires_at=now + INVITE_LIFETIME, accepted_at=None)
        await self._invites.add(invite)
        return invite, token

    async def get_invite(self, invite_id: str) -> InviteRow:
        invite = await self._invites.get(invite_id) if _storable(invite_id) else None
        if invite is None:
            raise NotFound(f"invite_id: no invite with id {invite_id!r}")
        return invite

    async def list_invites(
        self, page: PageRequest, email: str | None, roles: Sequence[str], statuses: Sequence[str]
    ) -> Page[InviteRow]:
        for status in statuses:
            if status not in INVITE_STATUSES:
                raise InvalidRequest(f"statuses: must be among {', '.join(INVITE_STATUSES)}, got {status!r}")
        wanted = normalize_email(email) if email is not None else None
        return await self._invites.list(
            _checked_page(page), utc_now(), wanted, check_role_filter(roles), statuses)

    async def delete_invite(self, invite_id: str) -> None:
        """Its token stops working; an accepted invite's user stays a member."""
        if not _storable(invite_id) or not await self._invites.delete(invite_id):
            raise NotFound(f"invite_id: no invite with id {invite_id!r}")


def member_name(name: str | None, email: str) -> str:
    """The name given, or the email's local part (the API requires every user to have one)."""
    chosen = (name or "").strip() or email.split("@", 1)[0]
    if len(chosen) > 200 or not _storable(chosen):
        raise InvalidRequest("name: at most 200 characters, and no NUL")
    return chosen
