"""The platform services wired together: store, keys, workspaces, members, limits, usage,
metering.

`build_platform` does no I/O (connections open lazily on the server's event loop) and meters
with in-process buckets until `use_limiter` installs others (`http/app.py` picks Redis from
the settings); `start` migrates the schema and starts the usage writer; `close` stops them,
writing what is queued.
"""

from __future__ import annotations

from dataclasses import dataclass

from antiphon.config import Settings
from antiphon.services.files import FilesService
from antiphon.services.keys import KeyService
from antiphon.services.limit_policy import LimitPolicy
from antiphon.services.members import MemberService
from antiphon.services.metering import Metering
from antiphon.services.pricing import PriceTable
from antiphon.services.rate_limits import InMemoryRateLimiter, RateLimiter
from antiphon.services.skills import SkillsService
from antiphon.services.spend import SpendTracker
from antiphon.services.usage import UsageRecorder
from antiphon.services.workspace_members import WorkspaceMemberService
from antiphon.services.workspaces import WorkspaceService
from antiphon.store.api_keys import ApiKeyStore
from antiphon.store.blobs import LocalBlobStore
from antiphon.store.database import Database, async_url
from antiphon.store.files import FileStore
from antiphon.store.limits import RateLimitStore
from antiphon.store.members import InviteStore, UserStore
from antiphon.store.skills import SkillStore
from antiphon.store.usage import UsageStore
from antiphon.store.workspace_members import WorkspaceMemberStore
from antiphon.store.workspaces import WorkspaceStore


def organization_limits(settings: Settings) -> dict[str, int]:
    values = {
        "requests_per_minute": settings.rate_limit_requests_per_minute,
        "input_tokens_per_minute": settings.rate_limit_input_tokens_per_minute,
        "output_tokens_per_minute": settings.rate_limit_output_tokens_per_minute,
    }
    return {name: value for name, value in values.items() if value is not None}


@dataclass
class Platform:
    settings: Settings
    database: Database
    keys: KeyService
    workspaces: WorkspaceService
    members: MemberService
    workspace_members: WorkspaceMemberService
    usage: UsageStore
    policy: LimitPolicy
    prices: PriceTable
    recorder: UsageRecorder
    spend: SpendTracker
    metering: Metering
    files: FilesService
    skills: SkillsService
    blobs: LocalBlobStore
    organization_id: str

    def use_limiter(self, limiter: RateLimiter) -> None:
        """Before `start`: the buckets every request is metered against."""
        self.metering.limiter = limiter

    async def start(self) -> None:
        await self.database.migrate()
        await self.files.remove_unfinished_uploads()
        self.recorder.start()

    async def close(self) -> None:
        await self.recorder.close()
        await self.metering.limiter.close()
        await self.database.close()


def build_platform(settings: Settings, organization_id: str) -> Platform:
    database = Database.create(async_url(settings.database_url, settings.data_dir))
    workspace_store = WorkspaceStore(database)
    usage = UsageStore(database)
    prices = PriceTable(settings.prices)
    spend = SpendTracker(usage, prices)
    recorder = UsageRecorder(usage, on_record=spend.on_record)
    policy = LimitPolicy(organization_limits(settings), RateLimitStore(database), workspace_store)
    blobs = LocalBlobStore(settings.data_dir / "blobs")
    workspaces = WorkspaceService(workspace_store)
    members = MemberService(UserStore(database), InviteStore(database))
    return Platform(
        settings=settings, database=database, keys=KeyService(ApiKeyStore(database)),
        workspaces=workspaces, members=members,
        workspace_members=WorkspaceMemberService(WorkspaceMemberStore(database), workspaces, members),
        usage=usage, policy=policy,
        prices=prices, recorder=recorder, spend=spend,
        metering=Metering(InMemoryRateLimiter(), policy, recorder, spend),
        files=FilesService(FileStore(database), blobs),
        skills=SkillsService(SkillStore(database), blobs), blobs=blobs,
        organization_id=organization_id,
    )
