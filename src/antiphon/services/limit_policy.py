"""Which limits apply to a workspace: the organisation's (from settings), the workspace's own
rate-limit overrides and its monthly spend limit (from the store).

The store's values are read on the request path, so they are kept in memory and re-read
at most every `REFRESH_SECONDS` (changes made by another replica arrive within that time);
changes made through this process apply at once. While the store cannot be reached, the
last values read stay in force.
"""

from __future__ import annotations

import asyncio
import logging
import time

from antiphon.errors import Overloaded
from antiphon.services.rate_limits import Limits, LimitScope
from antiphon.store.limits import RateLimitStore
from antiphon.store.workspaces import WorkspaceStore

log = logging.getLogger(__name__)
REFRESH_SECONDS = 2.0
LIMIT_TYPES = ("requests_per_minute", "input_tokens_per_minute", "output_tokens_per_minute")


def limits_of(values: dict[str, int]) -> Limits:
    return Limits(
        requests=values.get("requests_per_minute"),
        input_tokens=values.get("input_tokens_per_minute"),
        output_tokens=values.get("output_tokens_per_minute"),
    )


class LimitPolicy:
    def __init__(
        self, organization: dict[str, int], limits: RateLimitStore, workspaces: WorkspaceStore
    ) -> None:
        self.organization = {k: v for k, v in organization.items() if v is not None}
        self._store = limits
        self._workspaces = workspaces
        self._overrides: dict[str, dict[str, int]] = {}
        self._spend_limits: dict[str, int] = {}
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _fresh(self) -> None:
        if time.monotonic() - self._read_at < REFRESH_SECONDS:
            return
        async with self._lock:  # one reader refreshes; the others wait for its result
            if time.monotonic() - self._read_at < REFRESH_SECONDS:
                return
            try:
                overrides = await self._store.overrides()
                spend_limits = await self._workspaces.spend_limits()
            except Overloaded:
                if self._read_at == float("-inf"):
                    raise  # never read: nothing to fall back on
                log.warning("limits could not be re-read; the last known ones apply")
            else:
                self._overrides, self._spend_limits = overrides, spend_limits
            self._read_at = time.monotonic()

    def invalidate(self) -> None:
        self._read_at = float("-inf")

    async def overrides(self, workspace_id: str) -> dict[str, int]:
        await self._fresh()
        return dict(self._overrides.get(workspace_id, {}))

    async def scopes(self, workspace_id: str | None) -> tuple[LimitScope, ...]:
        """The buckets a request from this workspace draws on (unlimited ones left out)."""
        scopes = []
        if self.organization:
            scopes.append(LimitScope("org", "organization", limits_of(self.organization)))
        if workspace_id is not None:
            own = await self.overrides(workspace_id)
            if own:
                scopes.append(LimitScope(f"workspace:{workspace_id}", f"workspace {workspace_id}", limits_of(own)))
        return tuple(scopes)

    async def spend_limit_cents(self, workspace_id: str) -> int | None:
        await self._fresh()
        return self._spend_limits.get(workspace_id)

    async def set_overrides(self, workspace_id: str, values: dict[str, int | None]) -> None:
        await self._store.set(workspace_id, values)
        self.invalidate()
