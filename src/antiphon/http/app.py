"""The ASGI application: routes, the error handlers, and the protocol edge around them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from antiphon.config import Settings
from antiphon.errors import AntiphonError, InternalError, MethodNotAllowed, NotFound
from antiphon.http.auth import Authenticator
from antiphon.http.console import console_routes
from antiphon.http.disconnect import ClientDisconnected
from antiphon.http.edge import ProtocolEdge
from antiphon.http.errors import error_body, error_response
from antiphon.http.openai.dialect import CHAT_COMPLETIONS
from antiphon.http.openapi import openapi
from antiphon.http.public_url import PublicUrl
from antiphon.http.routes import batches, files, skills
from antiphon.http.routes.admin import (
    api_keys,
    members,
    rate_limits,
    reports,
    workspace_members,
    workspaces,
)
from antiphon.http.routes.chat_completions import create_chat_completion
from antiphon.http.routes.complete import complete
from antiphon.http.routes.health import health, hello
from antiphon.http.routes.messages import count_tokens, create_message
from antiphon.http.routes.metrics import metrics, metrics_registry
from antiphon.http.routes.models import get_model, list_models
from antiphon.services.console_auth import build_console_auth
from antiphon.services.engine_watch import exit_when_an_engine_fails
from antiphon.services.models import ModelRegistry
from antiphon.services.rate_limits import RedisRateLimiter
from antiphon.services.thinking_seal import ThinkingSeal
from antiphon.services.wiring import build_services

_ORG = "/v1/organizations"
_WORKSPACE = _ORG + "/workspaces/{workspace_id}"
ADMIN_ROUTES = [
    Route(_ORG + "/me", workspaces.organization_me, methods=["GET"]),
    Route(_ORG + "/workspaces", workspaces.list_workspaces, methods=["GET"]),
    Route(_ORG + "/workspaces", workspaces.create_workspace, methods=["POST"]),
    Route(_WORKSPACE, workspaces.get_workspace, methods=["GET"]),
    Route(_WORKSPACE, workspaces.update_workspace, methods=["POST"]),
    Route(_WORKSPACE + "/archive", workspaces.archive_workspace, methods=["POST"]),
    Route(_WORKSPACE + "/spend_limit", workspaces.get_spend_limit, methods=["GET"]),
    Route(_WORKSPACE + "/spend_limit", workspaces.set_spend_limit, methods=["POST"]),
    Route(_WORKSPACE + "/rate_limits", rate_limits.list_workspace_limits, methods=["GET"]),
    Route(_WORKSPACE + "/rate_limits/{rate_limit_id}", rate_limits.update_workspace_limits, methods=["POST"]),
    Route(_WORKSPACE + "/members", workspace_members.list_members, methods=["GET"]),
    Route(_WORKSPACE + "/members", workspace_members.add_member, methods=["POST"]),
    Route(_WORKSPACE + "/members/{user_id}", workspace_members.get_member, methods=["GET"]),
    Route(_WORKSPACE + "/members/{user_id}", workspace_members.update_member, methods=["POST"]),
    Route(_WORKSPACE + "/members/{user_id}", workspace_members.remove_member, methods=["DELETE"]),
    Route(_ORG + "/rate_limits", rate_limits.list_organization_limits, methods=["GET"]),
    Route(_ORG + "/api_keys", api_keys.list_api_keys, methods=["GET"]),
    Route(_ORG + "/api_keys", api_keys.create_api_key, methods=["POST"]),
    Route(_ORG + "/api_keys/{api_key_id}", api_keys.get_api_key, methods=["GET"]),
    Route(_ORG + "/api_keys/{api_key_id}", api_keys.update_api_key, methods=["POST"]),
    Route(_ORG + "/users", members.list_users, methods=["GET"]),
    Route(_ORG + "/users/{user_id}", members.get_user, methods=["GET"]),
    Route(_ORG + "/users/{user_id}", members.update_user, methods=["POST"]),
    Route(_ORG + "/users/{user_id}", members.remove_user, methods=["DELETE"]),
    Route(_ORG + "/invites", members.list_invites, methods=["GET"]),
    Route(_ORG + "/invites", members.create_invite, methods=["POST"]),
    Route(_ORG + "/invites/{invite_id}", members.get_invite, methods=["GET"]),
    Route(_ORG + "/invites/{invite_id}", members.delete_invite, methods=["DELETE"]),
    Route(_ORG + "/usage_report/messages", reports.usage_report, methods=["GET"]),
    Route(_ORG + "/cost_report", reports.cost_report, methods=["GET"]),
]

FILE_ROUTES = [
    Route("/v1/files", files.upload_file, methods=["POST"]),
    Route("/v1/files", files.list_files, methods=["GET"]),
    Route("/v1/files/{file_id}", files.get_file, methods=["GET"]),
    Route("/v1/files/{file_id}", files.delete_file, methods=["DELETE"]),
    Route("/v1/files/{file_id}/content", files.download_file, methods=["GET"]),
]

_SKILL = "/v1/skills/{skill_id}"
SKILL_ROUTES = [
    Route("/v1/skills", skills.create_skill, methods=["POST"]),
    Route("/v1/skills", skills.list_skills, methods=["GET"]),
    Route(_SKILL, skills.get_skill, methods=["GET"]),
    Route(_SKILL, skills.delete_skill, methods=["DELETE"]),
    Route(_SKILL + "/versions", skills.create_version, methods=["POST"]),
    Route(_SKILL + "/versions", skills.list_versions, methods=["GET"]),
    Route(_SKILL + "/versions/{version}", skills.get_version, methods=["GET"]),
    Route(_SKILL + "/versions/{version}", skills.delete_version, methods=["DELETE"]),
    Route(_SKILL + "/versions/{version}/content", skills.version_content, methods=["GET"]),
]

_BATCH = "/v1/messages/batches/{batch_id}"
BATCH_ROUTES = [
    Route("/v1/messages/batches", batches.create_batch, methods=["POST"]),
    Route("/v1/messages/batches", batches.list_batches, methods=["GET"]),
    Route(_BATCH, batches.get_batch, methods=["GET"]),
    Route(_BATCH, batches.delete_batch, methods=["DELETE"]),
    Route(_BATCH + "/cancel", batches.cancel_batch, methods=["POST"]),
    Route(_BATCH + "/results", batches.batch_results, methods=["GET"]),
]

ROUTES = [
    *ADMIN_ROUTES,
    *BATCH_ROUTES,
    *FILE_ROUTES,
    *SKILL_ROUTES,
    Route("/v1/messages", create_message, methods=["POST"]),
    Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
    Route("/v1/complete", complete, methods=["POST"]),
    Route(CHAT_COMPLETIONS, create_chat_completion, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/api/hello", hello, methods=["GET"]),  # HEAD too: Claude Code's connection probe
    Route("/metrics", metrics, methods=["GET"]),
]


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _error_response(request: Request, error: Exception) -> Response:
    """In the envelope of the API the caller speaks (the edge decided which)."""
    return error_response(error, _request_id(request), getattr(request.state, "openai", False))


async def _on_domain_error(request: Request, error: Exception) -> Response:
    if isinstance(error, ClientDisconnected):
        return Response(status_code=499)  # nobody reads it; keeps the logs quiet
    return _error_response(request, error)


async def _on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        allowed = tuple((error.headers or {}).get("Allow", "").replace(" ", "").split(","))
        domain: AntiphonError = MethodNotAllowed(
            f"{request.method} is not allowed on {request.url.path}", allowed
        )
    elif error.status_code == 404:
        domain = NotFound(f"no route {request.method} {request.url.path}")
    else:
        domain = InternalError(error.detail)
    return _error_response(request, domain)


async def _on_bug(request: Request, error: Exception) -> Response:
    return _error_response(request, error)


def redis_prefix(organization_id: str) -> str:
    """Installations sharing one Redis keep apart by their organisation's id."""
    return f"antiphon:rl:{organization_id}:"


def create_app(
    settings: Settings,
    registry: ModelRegistry,
    organization_id: str,
    seal: ThinkingSeal,
    shut_down: Callable[[], None],
    server_secret: bytes,
) -> ASGIApp:
    """`organization_id` comes from the store's first-start bootstrap (services/bootstrap);
    `shut_down` asks the server to stop gracefully (for --on-engine-failure exit);
    `server_secret` keys the Console's CSRF tokens (the same on every replica)."""
    services = build_services(
        settings, registry, organization_id, seal,
        describe_error=lambda error: error_body(error, None)[1].model_dump(exclude_none=True),
    )
    platform, batch_worker = services.platform, services.batch_worker

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if settings.redis_url is not None:  # buckets shared by every replica
            platform.use_limiter(await RedisRateLimiter.connect(
                settings.redis_url, prefix=redis_prefix(organization_id)))
        await platform.start()
        await services.containers.start()
        await batch_worker.start()
        watch = None
        if settings.on_engine_failure == "exit":
            watch = asyncio.get_running_loop().create_task(
                exit_when_an_engine_fails(registry, shut_down)
            )
        try:
            yield
        finally:
            if watch is not None:
                watch.cancel()
            await batch_worker.close()  # its running requests go back to the queue
            await services.containers.close()  # every sandbox unmounted and deleted
            for model in registry:  # joining the engine thread may take a step: not on the loop
                await asyncio.to_thread(model.engine.close)
            await platform.close()  # after the engine: the last responses' usage is recorded

    app = Starlette(
        routes=[*ROUTES, *console_routes()] if settings.console else ROUTES,
        lifespan=lifespan,
        exception_handlers={
            AntiphonError: _on_domain_error,
            ClientDisconnected: _on_domain_error,
            HTTPException: _on_http_error,
            Exception: _on_bug,
        },
    )
    app.state.settings = settings
    app.state.public_url = PublicUrl(settings.public_url, settings.base_url)
    app.state.registry = registry
    app.state.platform = platform
    app.state.files = platform.files
    app.state.skills = platform.skills
    app.state.messages = services.messages
    app.state.completions = services.completions
    app.state.batches = services.batches
    app.state.threads = services.threads
    app.state.batch_worker = batch_worker
    app.state.console_auth = build_console_auth(platform.database, server_secret)
    app.state.metrics = metrics_registry(registry, platform, batch_worker)
    return ProtocolEdge(
        app, Authenticator(platform.keys), organization_id, read_timeout=settings.read_timeout
    )
