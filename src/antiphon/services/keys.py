"""API keys and admin keys: issue, authenticate, list, change.

A key is a random secret shown once; only its SHA-256 is stored. Authentication happens on
every request, so a found key is remembered for `CACHE_SECONDS`: a key revoked through this
process stops working at once, one revoked through another replica (or the CLI) within that
time. While the store cannot be reached, a key seen before keeps its last known state.
Requests that find a key missing from that memory at the same moment (a burst, once it has
expired) wait for one read of the store together rather than queue one read each.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from antiphon.errors import AuthenticationFailed, InvalidRequest, NotFound, Overloaded
from antiphon.ids import new_id, rfc3339, utc_now
from antiphon.protocol.admin import ApiKeyObject, WorkspaceScope
from antiphon.store.api_keys import ApiKeyStore
from antiphon.store.pages import Page, PageRequest
from antiphon.store.tables import ApiKey

KeyKind = Literal["api", "admin"]
KeyStatus = Literal["active", "inactive", "archived", "expired"]
CACHE_SECONDS = 5.0
_SECRET_PREFIX: dict[KeyKind, str] = {"api": "sk-antiphon-api01-", "admin": "sk-antiphon-admin01-"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id and kind, and for API keys their workspace. `key_id`
    None: a member in the Console's Workbench, whose usage is the workspace's without a key
    (as the hosted API reports Console usage)."""

    key_id: str | None
    kind: KeyKind
    workspace_id: str | None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(kind: KeyKind) -> str:
    return _SECRET_PREFIX[kind] + secrets.token_urlsafe(32)


def key_hint(secret: str) -> str:
    """Enough to recognise a key in a list, never enough to guess it."""
    for prefix in _SECRET_PREFIX.values():
        if secret.startswith(prefix) and len(secret) > len(prefix) + 8:
            return f"{prefix}{secret[len(prefix):len(prefix) + 3]}...{secret[-4:]}"
    return f"{secret[:3]}...{secret[-4:]}" if len(secret) >= 12 else "..."


def effective_status(key: ApiKey, now: datetime) -> KeyStatus:
    if key.status == "active" and key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return key.status  # type: ignore[return-value]



def api_key_object(key: ApiKey) -> ApiKeyObject:
    return ApiKeyObject(
        id=key.id, name=key.name, status=effective_status(key, utc_now()),
        workspace_id=key.workspace_id,
        scope=WorkspaceScope(workspace_id=key.workspace_id) if key.workspace_id else None,
        created_at=rfc3339(key.created_at),
        expires_at=rfc3339(key.expires_at) if key.expires_at else None,
        partial_key_hint=key.partial_key_hint,
    )

class KeyService:
    def __init__(self, store: ApiKeyStore) -> None:
        self._store = store
        self._found: dict[str, tuple[ApiKey, float]] = {}
        self._statuses: dict[str, tuple[KeyStatus, float]] = {}  # by key id
        self._changes = 0  # key updates so far: a status read before one is not remembered
        self._lookups: dict[str, asyncio.Future[ApiKey | None]] = {}  # digests being read

    async def _lookup(self, wanted: str) -> ApiKey | None:
        """The key with this digest, read once for all who ask while it is being read (40
        requests at once, each reading, were answered over 130 ms; SQLite reads one by one).
        Shielded: a caller that goes away does not cancel the others' read."""
        pending = self._lookups.get(wanted)
        if pending is None:
            pending = asyncio.ensure_future(self._store.by_secret_sha256(wanted))
            self._lookups[wanted] = pending
            pending.add_done_callback(lambda _: self._lookups.pop(wanted, None))
        return await asyncio.shield(pending)

    async def revoked(self, key_id: str) -> KeyStatus | None:
        """"inactive" or "archived" (a workspace's archiving archives its keys) when the key
        was turned off since it was used, else None; for work it started, such as a batch,
        that outlives the request. Remembered for as long as `authenticate` remembers."""
        cached = self._statuses.get(key_id)
        if cached is None or time.monotonic() - cached[1] >= CACHE_SECONDS:
            changes = self._changes
            key = await self._store.get(key_id)
            status: KeyStatus = "archived" if key is None else key.status  # type: ignore[assignment]
            cached = (status, time.monotonic())
            if changes == self._changes:  # no update landed while it was read
                self._statuses[key_id] = cached
        return cached[0] if cached[0] in ("inactive", "archived") else None

    async def authenticate(self, secret: str) -> Principal:
        """The caller behind `secret`, or AuthenticationFailed (unknown, inactive, expired)."""
        wanted = digest(secret)
        cached = self._found.get(wanted)
        if cached is not None and time.monotonic() - cached[1] < CACHE_SECONDS:
            key = cached[0]
        else:
            try:
                found = await self._lookup(wanted)
            except Overloaded:
                if cached is None:
                    raise
                found = cached[0]  # the store is down: the key's last known state serves
            else:
                if found is not None:
                    self._found[wanted] = (found, time.monotonic())
            if found is None:
                raise AuthenticationFailed("invalid x-api-key")
            key = found
        # The index found it by digest; compare in constant time all the same.
        if not hmac.compare_digest(key.secret_sha256, wanted):
            raise AuthenticationFailed("invalid x-api-key")
        status = effective_status(key, utc_now())
        if status != "active":
            raise AuthenticationFailed(f"this API key is {status}")
        return Principal(key.id, key.kind, key.workspace_id)  # type: ignore[arg-type]

    async def register(
        self, kind: KeyKind, name: str, workspace_id: str | None, secret: str | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """Store a key (a new random secret unless one is given); returns it and its secret."""
        secret = secret or new_secret(kind)
        key = ApiKey(
            id=new_id("apikey" if kind == "api" else "admkey"), kind=kind, name=name,
            workspace_id=workspace_id, secret_sha256=digest(secret),
            partial_key_hint=key_hint(secret), status="active", created_at=utc_now(),
            expires_at=expires_at,
        )
        await self._store.add(key)
        return key, secret

    async def ensure(self, kind: KeyKind, name: str, workspace_id: str | None, secret: str) -> bool:
        """Register a configured secret unless it already is; True if it was new."""
        existing = await self._store.by_secret_sha256(digest(secret))
        if existing is not None:
            if existing.kind != kind:
                raise ValueError(f"the configured {kind} key is already registered as another kind")
            return False
        await self.register(kind, name, workspace_id, secret)
        return True

    async def has_any(self, kind: KeyKind) -> bool:
        return await self._store.any_of_kind(kind)

    async def get(self, key_id: str) -> ApiKey:
        key = await self._store.get(key_id)
        if key is None:
            raise NotFound(f"api_key_id: no API key with id {key_id!r}")
        return key

    async def list(
        self, page: PageRequest, workspace_id: str | None, status: KeyStatus | None,
        within: frozenset[str] | None = None,
    ) -> Page[ApiKey]:
        """A page of API keys, by workspace and status; `within`: only those workspaces'."""
        if status is None:
            return await self._store.list(page, workspace_id, None, within)
        stored = ("active",) if status in ("active", "expired") else (status,)
        # Expiry is a matter of time, not a stored status: filter it here, page by page.
        listed = await self._store.list(page, workspace_id, stored, within)
        now = utc_now()
        kept = [key for key in listed.rows if effective_status(key, now) == status]
        return Page(kept, listed.has_more)

    async def update(self, key_id: str, name: str | None, status: KeyStatus | None) -> ApiKey:
        key = await self.get(key_id)
        current = effective_status(key, utc_now())
        if status is not None and status != current:
            if current == "archived":
                raise InvalidRequest("status: an archived API key cannot change status")
            if current == "expired" and status == "active":
                raise InvalidRequest("status: an expired API key cannot be activated")
        changes: dict[str, object] = {}
        if name is not None:
            changes["name"] = name
        if status is not None and status != current:
            changes["status"] = status
        updated = await self._store.update(key_id, changes) if changes else key
        if updated is None:
            raise NotFound(f"api_key_id: no API key with id {key_id!r}")
        self._found = {h: v for h, v in self._found.items() if v[0].id != key_id}
        self._statuses.pop(key_id, None)
        self._changes += 1
        return updated

    def forget(self) -> None:
        """Drop remembered keys (after an operation that changed many, such as archiving)."""
        self._found.clear()
        self._statuses.clear()
        self._changes += 1
