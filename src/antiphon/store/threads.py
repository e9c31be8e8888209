"""Message Threads' rows: replies that a later request continues by id, within a workspace.

A reply moves open → in_flight (one request is continuing from it) → continued (that request
got its own reply), or back to open if that request failed. Each move is a conditional
UPDATE, so of two requests racing to continue one reply exactly one gets it, on SQLite and
on PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, select, update

from antiphon.store.database import Database
from antiphon.store.tables import MessageThreadRow

ClaimRefusal = Literal["not_found", "in_flight", "continued"]


@dataclass(frozen=True)
class ClaimedReply:
    fixed_fields: str  # JSON
    history: str  # JSON


class ThreadStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, row: MessageThreadRow) -> None:
        async with self._db.transaction() as session:
            session.add(row)

    async def claim(self, workspace_id: str, message_id: str, now: datetime) -> ClaimedReply | ClaimRefusal:
        """Mark an open, unexpired reply of this workspace as being continued, and return its
        conversation; else why not (another workspace's reply is as absent as none)."""
        mine = (MessageThreadRow.message_id == message_id) & (MessageThreadRow.workspace_id == workspace_id)
        async with self._db.transaction() as session:
            claimed = await session.execute(
                update(MessageThreadRow)
                .where(mine, MessageThreadRow.state == "open", MessageThreadRow.expires_at > now)
                .values(state="in_flight")
            )
            row = (await session.execute(select(MessageThreadRow).where(mine))).scalar_one_or_none()
        if row is None or row.expires_at <= now:
            return "not_found"
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return "in_flight" if row.state == "in_flight" else "continued"
        assert row.history is not None
        return ClaimedReply(row.fixed_fields, row.history)

    async def continued(self, previous_id: str, reply: MessageThreadRow) -> None:
        """The new reply stored and the one it continued closed, in one transaction: the
        history lives on in the new row only."""
        async with self._db.transaction() as session:
            await session.execute(
                update(MessageThreadRow)
                .where(MessageThreadRow.message_id == previous_id)
                .values(state="continued", history=None)
            )
            session.add(reply)

    async def release(self, message_id: str) -> None:
        """The request continuing from this reply failed: it may be continued again."""
        async with self._db.transaction() as session:
            await session.execute(
                update(MessageThreadRow)
                .where(MessageThreadRow.message_id == message_id, MessageThreadRow.state == "in_flight")
                .values(state="open")
            )

    async def delete_expired(self, now: datetime) -> int:
        async with self._db.transaction() as session:
            outcome = await session.execute(
                delete(MessageThreadRow).where(MessageThreadRow.expires_at <= now)
            )
            return int(outcome.rowcount)  # type: ignore[attr-defined]
