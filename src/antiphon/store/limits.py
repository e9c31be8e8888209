"""Per-workspace rate-limit overrides (one row per workspace and limiter type)."""

from __future__ import annotations

from sqlalchemy import delete, select

from antiphon.store.database import Database
from antiphon.store.tables import RateLimitOverride


class RateLimitStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def overrides(self) -> dict[str, dict[str, int]]:
        """Every workspace's overrides: {workspace_id: {limit_type: value}}."""
        async with self._db.transaction() as session:
            rows = (await session.scalars(select(RateLimitOverride))).all()
        found: dict[str, dict[str, int]] = {}
        for row in rows:
            found.setdefault(row.workspace_id, {})[row.limit_type] = row.value
        return found

    async def set(self, workspace_id: str, values: dict[str, int | None]) -> None:
        """Set each type's value, or clear it with None; all in one transaction."""
        async with self._db.transaction() as session:
            for limit_type, value in values.items():
                await session.execute(
                    delete(RateLimitOverride).where(
                        RateLimitOverride.workspace_id == workspace_id,
                        RateLimitOverride.limit_type == limit_type,
                    )
                )
                if value is not None:
                    session.add(RateLimitOverride(workspace_id=workspace_id, limit_type=limit_type, value=value))
