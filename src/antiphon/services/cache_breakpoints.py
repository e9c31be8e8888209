"""Prompt caching: where a request's `cache_control` breakpoints fall in its prompt tokens.

A breakpoint on a block marks the prefix that ends with that block, in the API's order: tools,
then system, then messages (a top-level `cache_control` marks the last block). Templates
interleave these freely, so the token position is found by rendering the request cut right
after the marked block (plus a stand-in user turn, which keeps the cut conversation valid)
and taking the tokens it shares with the full prompt. The result is always a true prefix of
the prompt, ending at the marked block or, where the template gives no clean cut, a little
before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from antiphon.chat.template import TemplateRenderError
from antiphon.engine.base import CacheBreakpoint
from antiphon.engine.prefix_nodes import common_prefix
from antiphon.errors import AntiphonError, InvalidRequest
from antiphon.protocol.content import CacheControl, ToolResultBlock
from antiphon.protocol.messages import CountTokensRequest, InputMessage

MAX_BREAKPOINTS = 4
Ttl = Literal["5m", "1h"]
# A stand-in user turn after the cut: text no real prompt continues with.
_STAND_IN = InputMessage(role="user", content="\ue000")


@dataclass(frozen=True)
class MarkedBlock:
    """A block with cache_control, and the request cut right after it."""

    path: str
    ttl: Ttl
    cut: Callable[[CountTokensRequest], CountTokensRequest]


def _ttl(control: CacheControl) -> Ttl:
    return control.ttl or "5m"


def _marked_in(block: Any) -> CacheControl | None:
    """A block's own cache_control, or one on a block inside a tool result."""
    own = block.cache_control
    if isinstance(own, CacheControl):
        return own
    if isinstance(block, ToolResultBlock) and isinstance(block.content, list):
        for inner in block.content:
            control = getattr(inner, "cache_control", None)
            if isinstance(control, CacheControl):
                return control
    return None


def _cut_tools(index: int) -> Callable[[CountTokensRequest], CountTokensRequest]:
    def cut(request: CountTokensRequest) -> CountTokensRequest:
        tools = (request.tools or [])[: index + 1]
        choice = request.tool_choice
        if getattr(choice, "name", None) not in {None, *(tool.name for tool in tools)}:
            choice = None  # it names a tool after the cut
        update = {"tools": tools, "tool_choice": choice, "system": None, "messages": [_STAND_IN]}
        return request.model_copy(update=update)

    return cut


def _cut_system(index: int) -> Callable[[CountTokensRequest], CountTokensRequest]:
    def cut(request: CountTokensRequest) -> CountTokensRequest:
        assert isinstance(request.system, list)
        update = {"system": request.system[: index + 1], "messages": [_STAND_IN]}
        return request.model_copy(update=update)

    return cut


def _cut_messages(index: int, blocks: int | None) -> Callable[[CountTokensRequest], CountTokensRequest]:
    def cut(request: CountTokensRequest) -> CountTokensRequest:
        message = request.messages[index]
        if blocks is not None and isinstance(message.content, list):
            message = message.model_copy(update={"content": message.content[:blocks]})
        messages = [*request.messages[:index], message, _STAND_IN]
        return request.model_copy(update={"messages": messages})

    return cut


def _marked_blocks(request: CountTokensRequest) -> Iterator[MarkedBlock]:
    for index, tool in enumerate(request.tools or []):
        if tool.cache_control is not None:
            yield MarkedBlock(f"tools.{index}", _ttl(tool.cache_control), _cut_tools(index))
    if isinstance(request.system, list):
        for index, block in enumerate(request.system):
            if block.cache_control is not None:
                yield MarkedBlock(f"system.{index}", _ttl(block.cache_control), _cut_system(index))
    for index, message in enumerate(request.messages):
        if isinstance(message.content, str):
            continue
        for position, content in enumerate(message.content):
            control = _marked_in(content)
            if control is not None:
                path = f"messages.{index}.content.{position}"
                yield MarkedBlock(path, _ttl(control), _cut_messages(index, position + 1))
    if request.cache_control is not None:  # automatic caching: up to the last block
        last = len(request.messages) - 1
        yield MarkedBlock("cache_control", _ttl(request.cache_control), _cut_messages(last, None))


def marked_blocks(request: CountTokensRequest) -> list[MarkedBlock]:
    """The request's breakpoints, checked as the hosted API checks them."""
    marked = list(_marked_blocks(request))
    if len(marked) > MAX_BREAKPOINTS:
        raise InvalidRequest(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(marked)}."
        )
    seen_short = False
    for block in marked:
        if block.ttl == "1h" and seen_short:
            raise InvalidRequest(
                f"{block.path}.cache_control.ttl: a ttl='1h' cache_control block must not come "
                "after a ttl='5m' one; blocks are ordered tools, system, messages"
            )
        seen_short = seen_short or block.ttl == "5m"
    return marked


def locate_breakpoints(
    request: CountTokensRequest,
    marked: list[MarkedBlock],
    prompt_tokens: tuple[int, ...],
    tokens_of: Callable[[CountTokensRequest], list[int]],
    ttl_seconds: dict[Ttl, float],
) -> tuple[CacheBreakpoint, ...]:
    """Each marked block's prefix length in `prompt_tokens` (worker thread: it renders)."""
    located = []
    for block in marked:
        try:
            cut_tokens = tuple(tokens_of(block.cut(request)))
        except (AntiphonError, TemplateRenderError):
            # The cut conversation does not render (a template's own rule): this breakpoint
            # then caches nothing rather than failing a request that is valid as sent.
            cut_tokens = ()
        length = common_prefix(prompt_tokens, cut_tokens)
        tokens = min(length, len(prompt_tokens) - 1)
        located.append(CacheBreakpoint(tokens, ttl_seconds[block.ttl], block.ttl))
    return tuple(sorted(located, key=lambda breakpoint: breakpoint.tokens))
