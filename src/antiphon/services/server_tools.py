"""Server tools: the calls this server runs itself in the middle of a turn (web fetch, and
code execution's bash and file editor).

The model calls them like any tool; instead of ending the turn with `tool_use`, the server
runs the call, answers with the API's result block, and generation goes on
(services/message_turn.py runs that loop). Refusals the API defines as results, not
errors: a URL the conversation never held (`url_not_in_prior_context`), past `max_uses`
(`max_uses_exceeded`), every fetch failure (services/web_fetch), a command's failure.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from antiphon.errors import InvalidRequest
from antiphon.ids import rfc3339
from antiphon.protocol.messages import (
    CountTokensRequest,
    InputMessage,
    MessagesRequest,
    OutputBlock,
    ToolChoiceAny,
    ToolChoiceAuto,
    ToolChoiceTool,
)
from antiphon.protocol.server_tool_blocks import (
    OutputBase64Source,
    OutputBashToolResultBlock,
    OutputDocument,
    OutputEditorToolResultBlock,
    OutputServerToolResult,
    OutputServerToolUseBlock,
    OutputTextSource,
    OutputWebFetchError,
    OutputWebFetchResult,
    OutputWebFetchToolResultBlock,
)
from antiphon.services.container_tools import run_bash, run_editor
from antiphon.services.containers import Container, ContainerService
from antiphon.services.web_fetch import DomainFilters, FetchedPage, WebFetcher, WebFetchError

log = logging.getLogger(__name__)
# The hosted API's own bound on one turn's server-tool loop: past it, `pause_turn`.
MAX_SERVER_ITERATIONS = 10
# `max_content_tokens` is approximate (as the hosted API says): this many characters a token.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class WebFetchLimits:
    """A request's `web_fetch` tool: how often and where it may fetch."""

    max_uses: int | None
    allowed_domains: tuple[str, ...]
    blocked_domains: tuple[str, ...]
    max_content_tokens: int | None


def web_fetch_limits(request: CountTokensRequest, fetching_enabled: bool) -> WebFetchLimits | None:
    """The request's web fetch tool, checked; None when it declares none."""
    for index, tool in enumerate(request.tools or ()):
        if tool.type is None or not tool.type.startswith("web_fetch_"):
            continue
        path = f"tools.{index}"
        if not fetching_enabled:
            raise InvalidRequest(
                f"{path}.type: web fetch is disabled on this server (started with --no-web-fetch)"
            )
        if tool.allowed_domains and tool.blocked_domains:
            raise InvalidRequest(
                f"{path}: use either allowed_domains or blocked_domains, not both"
            )
        try:
            DomainFilters.parse(tool.allowed_domains or (), tool.blocked_domains or ())
        except ValueError as error:
            field = "allowed_domains" if tool.allowed_domains else "blocked_domains"
            raise InvalidRequest(f"{path}.{field}: {error}") from None
        if tool.citations is not None and tool.citations.enabled:
            raise InvalidRequest(
                f"{path}.citations.enabled: citations are not supported by this server's "
                "models; omit `citations` or set `enabled` to false"
            )
        return WebFetchLimits(
            tool.max_uses, tuple(tool.allowed_domains or ()), tuple(tool.blocked_domains or ()),
            tool.max_content_tokens,
        )
    return None


def _error(call: OutputServerToolUseBlock, code: str) -> OutputWebFetchToolResultBlock:
    return OutputWebFetchToolResultBlock(
        tool_use_id=call.id, content=OutputWebFetchError(error_code=code)
    )


def _document(page: FetchedPage, max_content_tokens: int | None) -> OutputDocument:
    if page.data is not None:  # a PDF: read as a document by whoever renders it
        source: OutputTextSource | OutputBase64Source = OutputBase64Source(
            media_type=page.media_type, data=base64.b64encode(page.data).decode("ascii")
        )
    else:
        text = page.text or ""
        if max_content_tokens is not None:
            text = text[: max_content_tokens * CHARS_PER_TOKEN]
        source = OutputTextSource(data=text)
    return OutputDocument(source=source, title=page.title)


@dataclass
class TurnTools:
    """What one turn's server tool calls run against: the web fetch tool's limits and the
    fetches made so far, and the code execution container."""

    web_fetch: WebFetchLimits | None = None
    container: Container | None = None
    fetches: int = 0


class ServerTools:
    """Runs a turn's server tool calls (web fetch; code execution's bash and editor)."""

    def __init__(self, fetcher: WebFetcher | None, containers: ContainerService | None = None) -> None:
        self._fetcher = fetcher
        self.containers = containers

    @property
    def fetching_enabled(self) -> bool:
        return self._fetcher is not None

    async def run(
        self, call: OutputServerToolUseBlock, tools: TurnTools, fetchable: Collection[str]
    ) -> OutputServerToolResult:
        if call.name in ("bash_code_execution", "text_editor_code_execution"):
            return await self._execute(call, tools.container)
        assert tools.web_fetch is not None  # a server tool is shown only if declared
        result = await self.fetch(call, tools.web_fetch, fetchable, tools.fetches)
        tools.fetches += counts_as_use(result)
        return result

    async def _execute(
        self, call: OutputServerToolUseBlock, container: Container | None
    ) -> OutputBashToolResultBlock | OutputEditorToolResultBlock:
        assert container is not None and self.containers is not None  # opened with the turn
        container.touch()
        if call.name == "bash_code_execution":
            bash = await run_bash(container, call.input.get("command"), self.containers.files)
            return OutputBashToolResultBlock(tool_use_id=call.id, content=bash)
        edited = await run_editor(container, call.input)
        return OutputEditorToolResultBlock(tool_use_id=call.id, content=edited)

    async def fetch(
        self, call: OutputServerToolUseBlock, limits: WebFetchLimits, fetchable: Collection[str],
        uses_so_far: int,
    ) -> OutputWebFetchToolResultBlock:
        url = call.input.get("url")
        if not isinstance(url, str) or not url:
            return _error(call, "invalid_tool_input")
        if limits.max_uses is not None and uses_so_far >= limits.max_uses:
            return _error(call, "max_uses_exceeded")
        if url not in fetchable:
            return _error(call, "url_not_in_prior_context")
        if self._fetcher is None:
            return _error(call, "unavailable")
        try:
            page = await self._fetcher.fetch(url, limits.allowed_domains, limits.blocked_domains)
        except WebFetchError as error:
            log.info("web fetch %s: %s (%s)", call.id, error.error_code, error.message)
            return _error(call, error.error_code)
        return OutputWebFetchToolResultBlock(
            tool_use_id=call.id,
            content=OutputWebFetchResult(
                url=page.url, content=_document(page, limits.max_content_tokens),
                retrieved_at=rfc3339(page.retrieved_at),
            ),
        )


def counts_as_use(result: OutputWebFetchToolResultBlock) -> bool:
    """Whether a result spent one of `max_uses` (refusals before any request do not)."""
    content = result.content
    return not isinstance(content, OutputWebFetchError) or content.error_code not in (
        "max_uses_exceeded", "url_not_in_prior_context", "invalid_tool_input"
    )


def pending_server_calls(
    blocks: Sequence[object], answered: Collection[str]
) -> list[OutputServerToolUseBlock]:
    return [
        block for block in blocks
        if isinstance(block, OutputServerToolUseBlock) and block.id not in answered
    ]


def continued_request(request: MessagesRequest, blocks: Sequence[OutputBlock]) -> MessagesRequest:
    """The request that continues a turn after its server tools answered: the blocks so far
    close the conversation as an assistant message. A forced tool_choice was for the first
    call only (the model must be free to answer), and context editing was already applied."""
    assistant = InputMessage.model_validate(
        {"role": "assistant", "content": [block.model_dump() for block in blocks]}
    )
    choice = request.tool_choice
    if isinstance(choice, ToolChoiceAny | ToolChoiceTool):
        choice = ToolChoiceAuto(type="auto", disable_parallel_tool_use=choice.disable_parallel_tool_use)
    return request.model_copy(update={
        "messages": [*request.messages, assistant], "tool_choice": choice, "context_management": None,
    })


def code_execution_tool(request: CountTokensRequest) -> str | None:
    """The path of the request's code execution tool, if it declares one."""
    for index, tool in enumerate(request.tools or ()):
        if tool.type is not None and tool.type.startswith("code_execution_"):
            return f"tools.{index}.type"
    return None
