"""Users and invites of the organisation.

Two rules hold inside one transaction each, so that concurrent requests cannot break them
together: the last admin is never removed or demoted, and an invite is accepted at most
once (a conditional update that only one caller can win). Role changes and removals take
turns, so that the admins they count cannot change under them: on PostgreSQL by a
transaction-scoped advisory lock (locking the admins' rows instead deadlocks two removals
that each hold their own user's row), on SQLite by writing first, which takes its one write
lock (a read before the first write would run outside the transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, false, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from antiphon.errors import AlreadyMember, LastAdmin
from antiphon.store.database import Database
from antiphon.store.pages import Page, PageRequest, fetch_page
from antiphon.store.tables import ConsoleSessionRow, InviteRow, UserRow

ADMIN = "admin"


# The migrations' lock is 0x616E7469 ("anti"), first rows' +1.
_MEMBER_CHANGES_LOCK = 0x616E7469 + 2


async def _hold_user(session: AsyncSession, user_id: str, postgresql: bool) -> UserRow | None:
    """The user, once this transaction is the only one changing members."""
    if postgresql:
        await session.execute(text(f"SELECT pg_advisory_xact_lock({_MEMBER_CHANGES_LOCK})"))
    else:
        await session.execute(update(UserRow).where(UserRow.id == user_id).values(role=UserRow.role))
    return await session.get(UserRow, user_id)


async def _refuse_last_admin(session: AsyncSession, user: UserRow, doing: str) -> None:
    if user.role != ADMIN:
        return
    admins = select(UserRow.id).where(UserRow.role == ADMIN)
    if len((await session.scalars(admins)).all()) <= 1:
        raise LastAdmin(f"user {user.id!r} is the organization's last admin and cannot be {doing}; "
                        "make another member an admin first")


class UserStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, user: UserRow) -> None:
        """Raises AlreadyMember when the email is taken (also when a concurrent add won)."""
        try:
            async with self._db.transaction() as session:
                session.add(user)
        except IntegrityError:
            raise AlreadyMember(f"email: {user.email!r} is already a member of the organization") from None

    async def get(self, user_id: str) -> UserRow | None:
        async with self._db.transaction() as session:
            return await session.get(UserRow, user_id)

    async def by_email(self, email: str) -> UserRow | None:
        async with self._db.transaction() as session:
            return (await session.scalars(select(UserRow).where(UserRow.email == email))).first()

    async def list(self, page: PageRequest, email: str | None, roles: Sequence[str]) -> Page[UserRow]:
        query = select(UserRow)
        if email is not None:
            query = query.where(UserRow.email == email)
        if roles:
            query = query.where(UserRow.role.in_(roles))
        async with self._db.transaction() as session:
            return await fetch_page(session, UserRow, query, page)

    async def set_role(self, user_id: str, role: str) -> UserRow | None:
        async with self._db.transaction() as session:
            user = await _hold_user(session, user_id, self._db.is_postgresql)
            if user is None:
                return None
            if role != ADMIN:
                await _refuse_last_admin(session, user, "demoted")
            user.role = role
            return user

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(update(UserRow).where(UserRow.id == user_id).values(password_hash=password_hash))

    async def remove(self, user_id: str) -> UserRow | None:
        """Remove the user and end every Console session of theirs, in one transaction."""
        async with self._db.transaction() as session:
            user = await _hold_user(session, user_id, self._db.is_postgresql)
            if user is None:
                return None
            await _refuse_last_admin(session, user, "removed")
            await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.user_id == user_id))
            await session.delete(user)
            return user


def _invite_status_is(status: str, now: datetime) -> ColumnElement[bool]:
    if status == "accepted":
        return InviteRow.accepted_at.is_not(None)
    if status == "expired":
        return and_(InviteRow.accepted_at.is_(None), InviteRow.expires_at <= now)
    if status == "pending":
        return and_(InviteRow.accepted_at.is_(None), InviteRow.expires_at > now)
    return false()  # deleted invites are gone


class InviteStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, invite: InviteRow) -> None:
        async with self._db.transaction() as session:
            session.add(invite)

    async def get(self, invite_id: str) -> InviteRow | None:
        async with self._db.transaction() as session:
            return await session.get(InviteRow, invite_id)

    async def by_token_sha256(self, digest: str) -> InviteRow | None:
        async with self._db.transaction() as session:
            return (await session.scalars(select(InviteRow).where(InviteRow.token_sha256 == digest))).first()

    async def pending_for(self, email: str, now: datetime) -> InviteRow | None:
        query = select(InviteRow).where(InviteRow.email == email, _invite_status_is("pending", now))
        async with self._db.transaction() as session:
            return (await session.scalars(query)).first()

    async def list(
        self, page: PageRequest, now: datetime, email: str | None, roles: Sequence[str],
        statuses: Sequence[str],
    ) -> Page[InviteRow]:
        query = select(InviteRow)
        if email is not None:
            query = query.where(InviteRow.email == email)
        if roles:
            query = query.where(InviteRow.role.in_(roles))
        if statuses:
            query = query.where(or_(*(_invite_status_is(status, now) for status in statuses)))
        async with self._db.transaction() as session:
            return await fetch_page(session, InviteRow, query, page)

    async def delete(self, invite_id: str) -> bool:
        async with self._db.transaction() as session:
            result = await session.execute(delete(InviteRow).where(InviteRow.id == invite_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def accept(self, invite_id: str, user: UserRow, now: datetime) -> bool:
        """Mark the invite accepted and add its user, together; False when the invite was
        accepted, deleted or expired meanwhile (nothing is written then). Raises
        AlreadyMember when the email became a member meanwhile."""
        claim = (
            update(InviteRow)
            .where(InviteRow.id == invite_id, _invite_status_is("pending", now))
            .values(accepted_at=now)
        )
        try:
            async with self._db.transaction() as session:
                if not (await session.execute(claim)).rowcount:  # type: ignore[attr-defined]
                    return False
                session.add(user)
        except IntegrityError:
            raise AlreadyMember(f"email: {user.email!r} is already a member of the organization") from None
        return True
