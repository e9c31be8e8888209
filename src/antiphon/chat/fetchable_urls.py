"""The URLs web fetch may fetch: those the conversation already holds.

As the hosted API rules it, the model may not make URLs up: it fetches what the user wrote,
what a tool result or an earlier fetch brought in. `url_sources` chooses which of those count
(omitted: all). The set becomes the grammar's enum for the tool's `url`, so a model's call
always names one of them; the server checks again before it fetches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from antiphon.protocol.content import (
    DocumentBlock,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    WebFetchResult,
    WebFetchToolResultBlock,
)
from antiphon.protocol.messages import CountTokensRequest, UrlSourceFilter, WebFetchUrlSources

# Up to whitespace, quotes and brackets; trailing sentence punctuation is not part of it.
_URL = re.compile(r"https?://[^\s<>\"'`\[\]{}|\\^]+", re.IGNORECASE)
_TRAILING = ".,;:!?)"
MAX_FETCHABLE_URLS = 256  # the grammar's enum stays small; the newest are kept


def urls_in(text: str) -> Iterator[str]:
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        if "(" in url and not url.endswith(")") and match.group(0).endswith(")"):
            url += ")"  # a Wikipedia-style URL with parentheses keeps its closing one
        if len(url) > len("https://"):
            yield url


def _admits(rule: UrlSourceFilter | None, tool_name: str) -> bool:
    if rule is None or rule.type == "all":
        return True
    if rule.type == "none":
        return False
    named = {tool.name for tool in rule.tools}
    return tool_name in named if rule.type == "only" else tool_name not in named


def _document_text(document: DocumentBlock) -> str:
    source = document.source
    return source.data if source.type == "text" else ""


def _block_texts(block: object) -> Iterator[str]:
    if isinstance(block, TextBlock):
        yield block.text
    elif isinstance(block, DocumentBlock):
        yield _document_text(block)


def fetchable_urls(request: CountTokensRequest, sources: WebFetchUrlSources | None) -> tuple[str, ...]:
    """Every URL the allowed parts of the conversation hold, first seen first."""
    user = sources is None or sources.user_input is None or sources.user_input.type == "all"
    client_rule = sources.client_tool_results if sources else None
    server_rule = sources.server_tool_results if sources else None
    names: dict[str, str] = {}  # tool_use id -> tool name
    found: list[str] = []
    for message in request.messages:
        if isinstance(message.content, str):
            if message.role == "user" and user:
                found.extend(urls_in(message.content))
            continue
        for block in message.content:
            found.extend(_urls_of_block(block, message.role, user, client_rule, server_rule, names))
    return tuple(dict.fromkeys(found))[-MAX_FETCHABLE_URLS:]


def _urls_of_block(
    block: object, role: str, user: bool, client_rule: UrlSourceFilter | None,
    server_rule: UrlSourceFilter | None, names: dict[str, str],
) -> Sequence[str]:
    if isinstance(block, ToolUseBlock):
        names[block.id] = block.name
    elif isinstance(block, ToolResultBlock):
        if _admits(client_rule, names.get(block.tool_use_id, "")):
            content = block.content
            texts = [content] if isinstance(content, str) else [
                text for part in content or () for text in _block_texts(part)
            ]
            return [url for text in texts for url in urls_in(text)]
    elif isinstance(block, WebFetchToolResultBlock):
        result = block.content
        if isinstance(result, WebFetchResult) and _admits(server_rule, "web_fetch"):
            return [result.url, *urls_in(_document_text(result.content))]
    elif role == "user" and user:
        return [url for text in _block_texts(block) for url in urls_in(text)]
    return []
