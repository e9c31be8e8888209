"""While the store cannot be reached, what is already known keeps serving (keys, limits);
what was never known is refused with 529, not guessed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from antiphon.errors import Overloaded
from antiphon.services import keys as keys_module
from antiphon.services import limit_policy
from antiphon.services.keys import KeyService, digest
from antiphon.services.limit_policy import LimitPolicy
from antiphon.store.tables import ApiKey


class FlakyKeyStore:
    """Answers from a dict until `down` is set, then fails as an unreachable database does."""

    def __init__(self, key: ApiKey) -> None:
        self.keys = {key.secret_sha256: key}
        self.down = False

    async def by_secret_sha256(self, wanted: str) -> ApiKey | None:
        if self.down:
            raise Overloaded("the server's store is unavailable; retry shortly", 2.0)
        return self.keys.get(wanted)


class FlakyLimitStore:
    def __init__(self) -> None:
        self.down = False

    async def overrides(self) -> dict[str, dict[str, int]]:
        if self.down:
            raise Overloaded("the server's store is unavailable; retry shortly", 2.0)
        return {"wrkspc_a": {"requests_per_minute": 7}}

    async def spend_limits(self) -> dict[str, int]:
        return await self.overrides() and {"wrkspc_a": 100}


def _key(secret: str) -> ApiKey:
    return ApiKey(id="apikey_1", kind="api", name="k", workspace_id="wrkspc_a",
                  secret_sha256=digest(secret), partial_key_hint="…", status="active",
                  created_at=datetime(2026, 1, 1, tzinfo=UTC), expires_at=None)


def test_a_known_key_keeps_working_while_the_store_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys_module, "CACHE_SECONDS", 0.0)  # every call asks the store
    store = FlakyKeyStore(_key("sk-known"))
    service = KeyService(store)  # type: ignore[arg-type]

    async def scenario() -> None:
        assert (await service.authenticate("sk-known")).workspace_id == "wrkspc_a"
        store.down = True
        assert (await service.authenticate("sk-known")).key_id == "apikey_1"
        with pytest.raises(Overloaded):
            await service.authenticate("sk-never-seen")

    asyncio.run(scenario())


def test_limits_keep_their_last_values_while_the_store_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limit_policy, "REFRESH_SECONDS", 0.0)
    store = FlakyLimitStore()
    policy = LimitPolicy({}, store, store)  # type: ignore[arg-type]

    async def scenario() -> None:
        (scope,) = await policy.scopes("wrkspc_a")
        store.down = True
        assert await policy.scopes("wrkspc_a") == (scope,) and scope.limits.requests == 7
        assert await policy.spend_limit_cents("wrkspc_a") == 100

    asyncio.run(scenario())


def test_limits_never_read_are_not_guessed() -> None:
    store = FlakyLimitStore()
    store.down = True
    policy = LimitPolicy({}, store, store)  # type: ignore[arg-type]
    with pytest.raises(Overloaded):
        asyncio.run(policy.scopes("wrkspc_a"))


class SlowKeyStore(FlakyKeyStore):
    """Counts its reads, each taking a moment, as a database read does."""

    def __init__(self, key: ApiKey) -> None:
        super().__init__(key)
        self.reads = 0

    async def by_secret_sha256(self, wanted: str) -> ApiKey | None:
        self.reads += 1
        await asyncio.sleep(0.01)
        return await super().by_secret_sha256(wanted)


def test_a_burst_reads_a_key_once() -> None:
    """40 requests with a key not in memory wait for one read together, not one each."""
    store = SlowKeyStore(_key("sk-known"))
    service = KeyService(store)  # type: ignore[arg-type]

    async def scenario() -> None:
        found = await asyncio.gather(*(service.authenticate("sk-known") for _ in range(40)))
        assert {principal.key_id for principal in found} == {"apikey_1"} and store.reads == 1
        store.down = True  # a failed read fails all who waited for it, and is not remembered
        keys_module.CACHE_SECONDS, saved = 0.0, keys_module.CACHE_SECONDS
        try:
            results = await asyncio.gather(*(service.authenticate("sk-other") for _ in range(5)),
                                           return_exceptions=True)
        finally:
            keys_module.CACHE_SECONDS = saved
        assert all(isinstance(result, Overloaded) for result in results) and store.reads == 2

    asyncio.run(scenario())
