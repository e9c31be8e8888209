"""Console sessions and failed sign-ins, both found by SHA-256 digests (never by secrets)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from antiphon.store.database import Database
from antiphon.store.tables import ConsoleSessionRow, SignInFailureRow, UserRow


class ConsoleSessionStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, row: ConsoleSessionRow) -> None:
        async with self._db.transaction() as session:
            session.add(row)

    async def find(self, digest: str) -> tuple[ConsoleSessionRow, UserRow] | None:
        """The session and its user (a removed user's sessions are removed with them)."""
        query = (
            select(ConsoleSessionRow, UserRow)
            .join(UserRow, UserRow.id == ConsoleSessionRow.user_id)
            .where(ConsoleSessionRow.token_sha256 == digest)
        )
        async with self._db.transaction() as session:
            found = (await session.execute(query)).first()
            return None if found is None else (found[0], found[1])

    async def touch(self, digest: str, now: datetime) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                update(ConsoleSessionRow).where(ConsoleSessionRow.token_sha256 == digest).values(last_seen=now)
            )

    async def delete(self, digest: str) -> bool:
        async with self._db.transaction() as session:
            result = await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.token_sha256 == digest))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def delete_for_user(self, user_id: str) -> int:
        async with self._db.transaction() as session:
            result = await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.user_id == user_id))
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete_expired(self, now: datetime) -> int:
        async with self._db.transaction() as session:
            result = await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.expires_at <= now))
            return int(result.rowcount)  # type: ignore[attr-defined]


class SignInFailureStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def since(self, email_digest: str, start: datetime) -> list[datetime]:
        """When this email's sign-ins failed after `start`, oldest first."""
        query = (
            select(SignInFailureRow.failed_at)
            .where(SignInFailureRow.email_sha256 == email_digest, SignInFailureRow.failed_at > start)
            .order_by(SignInFailureRow.failed_at)
        )
        async with self._db.transaction() as session:
            return list((await session.scalars(query)).all())

    async def add(self, email_digest: str, now: datetime, forget_before: datetime) -> None:
        """Record a failure and drop this email's failures that no longer count (those at or
        before `forget_before`)."""
        async with self._db.transaction() as session:
            await session.execute(delete(SignInFailureRow).where(
                SignInFailureRow.email_sha256 == email_digest, SignInFailureRow.failed_at <= forget_before))
            session.add(SignInFailureRow(email_sha256=email_digest, failed_at=now))

    async def clear(self, email_digest: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(delete(SignInFailureRow).where(SignInFailureRow.email_sha256 == email_digest))
