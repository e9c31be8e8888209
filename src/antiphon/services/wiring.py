"""Every service and worker of one server, built in one place from its settings.

Building does no I/O: the HTTP layer's lifespan starts them (the platform, then the batch
worker) and closes them in the reverse order. What needs HTTP knowledge, such as how an
error reads in the API's envelope, is handed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from antiphon.config import Settings
from antiphon.services.batch_worker import BatchWorker, DescribeError
from antiphon.services.batches import BatchService
from antiphon.services.completions import CompletionsService
from antiphon.services.containers import ContainerService
from antiphon.services.messages import MessagesService
from antiphon.services.models import ModelRegistry
from antiphon.services.platform import Platform, build_platform
from antiphon.services.server_tools import ServerTools
from antiphon.services.thinking_seal import ThinkingSeal
from antiphon.services.threads import ThreadService
from antiphon.services.web_fetch import WebFetcher, WebFetchSettings
from antiphon.store.batches import BatchStore
from antiphon.store.threads import ThreadStore


@dataclass(frozen=True)
class Services:
    platform: Platform
    messages: MessagesService
    completions: CompletionsService
    batches: BatchService
    batch_worker: BatchWorker
    threads: ThreadService
    containers: ContainerService


def build_services(
    settings: Settings,
    registry: ModelRegistry,
    organization_id: str,
    seal: ThinkingSeal,
    describe_error: DescribeError,
) -> Services:
    platform = build_platform(settings, organization_id)
    containers = ContainerService(
        settings.data_dir / "sandboxes" if settings.code_execution else None,
        platform.skills, platform.files, settings.data_dir / "skill-cache",
        settings.container_idle_timeout,
    )
    messages = MessagesService(
        registry, seal, strict=settings.strict, redact_thinking=settings.redact_thinking,
        cache_ttl_seconds={"5m": settings.cache_ttl_5m, "1h": settings.cache_ttl_1h},
        files=platform.files, server_tools=ServerTools(_web_fetcher(settings), containers),
    )
    batch_store = BatchStore(platform.database)
    batches = BatchService(batch_store, platform.blobs, messages.check)
    worker = BatchWorker(
        batch_store, batches, messages, platform.metering, platform.keys,
        describe_error=describe_error,
        concurrency=settings.effective_batch_concurrency,
        lease_seconds=settings.batch_lease_seconds,
        sole_process=not platform.database.is_postgresql,
    )
    return Services(
        platform=platform, messages=messages,
        completions=CompletionsService(registry, strict=settings.strict),
        batches=batches, batch_worker=worker,
        threads=ThreadService(ThreadStore(platform.database)), containers=containers,
    )


def _web_fetcher(settings: Settings) -> WebFetcher | None:
    if not settings.web_fetch:
        return None
    return WebFetcher(WebFetchSettings(
        allow=settings.web_fetch_allow, max_bytes=settings.web_fetch_max_bytes,
        timeout_s=settings.web_fetch_timeout,
    ))
