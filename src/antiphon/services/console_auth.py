"""Signing in to the web Console: invites accepted, passwords checked, sessions kept.

No HTTP here: the Console's routes turn these results into cookies and pages. What this
module guarantees, whoever calls it:
- Secrets are never stored: invite and session tokens are 256-bit random and kept as
  SHA-256 digests (a fast hash suffices for random secrets); passwords as scrypt hashes.
- A sign-in takes the same work whether or not the email is a member's (a dummy hash is
  checked for strangers), and an email's failures are limited — 5 in 15 minutes, counted
  in the store so that every replica sees them; then `RateLimited` says how long to wait.
- An invite is accepted once: the user is created and the invite marked in one transaction.
- A session lasts 14 days from sign-in; it ends at sign-out, on removal of its user (with
  all of theirs), or when it expires. Its last use is written at most once a minute.
- The CSRF token is an HMAC of the session token under a key derived from the server
  secret: nothing to store, the same on every replica, worthless for another session.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from antiphon.errors import AuthenticationFailed, InvalidRequest, RateLimited
from antiphon.ids import new_id, random_token, rfc3339, utc_now
from antiphon.services.members import member_name, normalize_email, token_digest
from antiphon.services.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from antiphon.services.workspace_members import workspace_limits
from antiphon.store.console_sessions import ConsoleSessionStore, SignInFailureStore
from antiphon.store.database import Database
from antiphon.store.members import InviteStore, UserStore
from antiphon.store.tables import ConsoleSessionRow, UserRow
from antiphon.store.workspace_members import WorkspaceMemberStore

SESSION_LIFETIME = timedelta(days=14)
TOUCH_EVERY = timedelta(minutes=1)
FAILURE_LIMIT = 5
FAILURE_WINDOW = timedelta(minutes=15)
SESSION_TOKEN_PREFIX = "antiphon-session01-"
_CSRF_KEY_LABEL = b"antiphon console csrf v1"


@dataclass(frozen=True)
class ConsoleUser:
    id: str
    email: str
    name: str
    role: str
    # The workspaces this member may work in; None: every workspace (admins, and members
    # not limited to any).
    workspace_ids: frozenset[str] | None = None

    def may_use(self, workspace_id: str | None) -> bool:
        return self.workspace_ids is None or workspace_id in self.workspace_ids


@dataclass(frozen=True)
class ConsoleSession:
    user: ConsoleUser
    created_at: datetime
    last_seen: datetime
    expires_at: datetime


@dataclass(frozen=True)
class SignedIn:
    """A new session: its token (for the cookie, shown only here) and its CSRF token."""

    session_token: str
    csrf_token: str
    session: ConsoleSession


def _console_user(user: UserRow, workspace_ids: frozenset[str] | None = None) -> ConsoleUser:
    return ConsoleUser(id=user.id, email=user.email, name=user.name, role=user.role,
                       workspace_ids=workspace_ids)


def _text_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


class ConsoleAuth:
    def __init__(
        self, users: UserStore, invites: InviteStore, sessions: ConsoleSessionStore,
        failures: SignInFailureStore, memberships: WorkspaceMemberStore, server_secret: bytes,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._users = users
        self._memberships = memberships
        self._invites = invites
        self._sessions = sessions
        self._failures = failures
        self._csrf_key = hmac.new(server_secret, _CSRF_KEY_LABEL, hashlib.sha256).digest()
        self._clock = clock

    async def accept_invite(self, token: str, name: str | None, password: str) -> ConsoleUser:
        """Create the invited user with this password; the invite becomes accepted."""
        check_password_policy(password)
        invite = await self._invites.by_token_sha256(token_digest(token))
        now = self._clock()
        if invite is None:
            raise AuthenticationFailed("invite: this invite is not valid (it may have been deleted)")
        if invite.accepted_at is not None:
            raise InvalidRequest("invite: this invite has been accepted already; sign in instead")
        if invite.expires_at <= now:
            raise InvalidRequest(f"invite: this invite expired at {rfc3339(invite.expires_at)}; "
                                 "ask an admin for a new one")
        password_hash = await asyncio.to_thread(hash_password, password)
        user = UserRow(id=new_id("user"), email=invite.email, name=member_name(name, invite.email),
                       role=invite.role, password_hash=password_hash, created_at=now)
        if not await self._invites.accept(invite.id, user, now):
            raise InvalidRequest("invite: this invite is no longer valid (accepted, deleted or expired)")
        return _console_user(user)

    async def sign_in(self, email: str, password: str) -> SignedIn:
        """A new session for the member with this email and password. Refuses with
        AuthenticationFailed (which never says which of the two was wrong), or with
        RateLimited once the email has failed too often lately."""
        try:
            email, well_formed = normalize_email(email), True
        except InvalidRequest:  # no member's, but counted and hashed all the same
            email, well_formed = email.strip().lower(), False
        email_digest = token_digest(email)
        now = self._clock()
        recent = await self._failures.since(email_digest, now - FAILURE_WINDOW)
        if len(recent) >= FAILURE_LIMIT:
            wait = (recent[-FAILURE_LIMIT] + FAILURE_WINDOW - now).total_seconds()
            raise RateLimited(f"too many failed sign-ins for this email; try again in "
                              f"{max(1, int(wait + 0.999))} seconds", retry_after_seconds=max(wait, 1.0))
        user = await self._users.by_email(email) if well_formed else None
        stored = user.password_hash if user is not None else None
        if not await asyncio.to_thread(verify_password, password, stored) or user is None:
            await self._failures.add(email_digest, now, forget_before=now - FAILURE_WINDOW)
            raise AuthenticationFailed("wrong email or password")
        await self._failures.clear(email_digest)
        if stored is not None and needs_rehash(stored):  # parameters were raised since
            await self._users.set_password_hash(user.id, await asyncio.to_thread(hash_password, password))
        return await self._open_session(user, now)

    async def _open_session(self, user: UserRow, now: datetime) -> SignedIn:
        token = SESSION_TOKEN_PREFIX + random_token(43)
        row = ConsoleSessionRow(token_sha256=token_digest(token), user_id=user.id, created_at=now,
                                last_seen=now, expires_at=now + SESSION_LIFETIME)
        await self._sessions.add(row)
        limits = await workspace_limits(self._memberships, user.id, user.role)
        session = ConsoleSession(_console_user(user, limits), now, now, row.expires_at)
        return SignedIn(session_token=token, csrf_token=self.csrf_token(token), session=session)

    async def session(self, token: str) -> ConsoleSession | None:
        """The live session this token opens, or None (unknown, signed out, expired, or its
        user removed)."""
        digest = token_digest(token)
        found = await self._sessions.find(digest)
        if found is None:
            return None
        row, user = found
        now = self._clock()
        if row.expires_at <= now:
            await self._sessions.delete(digest)
            return None
        last_seen = row.last_seen
        if now - last_seen >= TOUCH_EVERY:
            await self._sessions.touch(digest, now)
            last_seen = now
        limits = await workspace_limits(self._memberships, user.id, user.role)  # as of now, every time
        return ConsoleSession(_console_user(user, limits), row.created_at, last_seen, row.expires_at)

    async def sign_out(self, token: str) -> bool:
        """End this session; False when it had ended already."""
        return await self._sessions.delete(token_digest(token))

    async def sign_out_everywhere(self, user_id: str) -> int:
        """End every session of the user (removing a user does this too); how many ended."""
        return await self._sessions.delete_for_user(user_id)

    async def forget_expired_sessions(self) -> int:
        return await self._sessions.delete_expired(self._clock())

    def csrf_token(self, session_token: str) -> str:
        mac = hmac.new(self._csrf_key, _text_bytes(session_token), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")

    def check_csrf(self, session_token: str, presented: str | None) -> bool:
        """Whether `presented` is this session's CSRF token, compared in constant time."""
        if not presented:
            return False
        return hmac.compare_digest(_text_bytes(self.csrf_token(session_token)), _text_bytes(presented))


def build_console_auth(
    database: Database, server_secret: bytes, clock: Callable[[], datetime] = utc_now
) -> ConsoleAuth:
    """The Console's sign-in service over the platform's store."""
    return ConsoleAuth(UserStore(database), InviteStore(database), ConsoleSessionStore(database),
                       SignInFailureStore(database), WorkspaceMemberStore(database), server_secret, clock)
