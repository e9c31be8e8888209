"""Parsed output (thinking, text, tool calls) → the response's content blocks.

The same builder serves both shapes of an answer: as it goes, it yields the stream's block
events in the API's order (start, deltas, stop, with a thinking block's signature as its last
delta); at the end, `blocks` holds the finished blocks of the non-streamed message.
"""

from __future__ import annotations

from typing import Any, Literal

from antiphon.chat.tool_calls.events import (
    CallEnd,
    CallInput,
    CallStart,
    OutputEvent,
    TextOut,
    ThinkingOut,
)
from antiphon.ids import server_tool_use_id, tool_use_id
from antiphon.protocol.messages import (
    OutputBlock,
    OutputRedactedThinkingBlock,
    OutputTextBlock,
    OutputThinkingBlock,
    OutputToolUseBlock,
)
from antiphon.protocol.server_tool_blocks import OutputServerToolResult, OutputServerToolUseBlock
from antiphon.protocol.streaming import (
    ContentBlockDelta,
    ContentBlockStart,
    ContentBlockStop,
    InputJSONDelta,
    SignatureDelta,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
)
from antiphon.services.thinking_seal import ThinkingSeal

BlockKind = Literal["text", "thinking", "tool_use"]
ThinkingDisplay = Literal["summarized", "omitted", "redacted"]


class ResponseBuilder:
    """`server_tools` names the tools this server runs: their calls open `server_tool_use`
    blocks, and the results are added with `add_result` (a turn's blocks accumulate across
    the iterations of its server-tool loop)."""

    def __init__(
        self, seal: ThinkingSeal, display: ThinkingDisplay = "summarized",
        server_tools: frozenset[str] = frozenset(), opens_thinking: bool = False,
    ) -> None:
        """`opens_thinking`: the output starts inside a thinking section, so the response
        starts with a thinking block, an empty one if the model closed it without a word."""
        self._seal = seal
        self._display = display
        self._server_tools = server_tools
        self._owes_thinking = opens_thinking
        self.blocks: list[OutputBlock] = []
        self._kind: BlockKind | None = None
        self._parts: list[str] = []
        self._tool: tuple[str, str] | None = None  # id and name of the open tool_use block
        self.tool_calls = 0  # client tool calls: the turn ends with `tool_use`

    def on_event(self, event: OutputEvent) -> list[StreamEvent]:
        if isinstance(event, ThinkingOut):
            return self._thinking(event.text)
        return self._owed_thinking() + self._answer_event(event)

    def _answer_event(self, event: TextOut | CallStart | CallInput | CallEnd) -> list[StreamEvent]:
        if isinstance(event, TextOut):
            return self._text(event.text)
        if isinstance(event, CallStart):
            out = self.close()
            block: OutputToolUseBlock | OutputServerToolUseBlock
            if event.name in self._server_tools:
                block = OutputServerToolUseBlock(id=server_tool_use_id(), name=event.name, input={})
            else:
                block = OutputToolUseBlock(id=tool_use_id(), name=event.name, input={})
            self._tool = (block.id, event.name)
            out.append(self._open("tool_use", block))
            return out
        if isinstance(event, CallInput):
            self._parts.append(event.fragment)
            return [self._delta(InputJSONDelta(partial_json=event.fragment))]
        return self._end_call(event)

    def add_result(self, result: OutputServerToolResult) -> list[StreamEvent]:
        """A server tool's result: a block that starts whole and stops at once."""
        out = self.close()
        index = len(self.blocks)
        self.blocks.append(result)
        out += [ContentBlockStart(index=index, content_block=result), ContentBlockStop(index=index)]
        return out

    def close(self) -> list[StreamEvent]:
        """Finish the open block, if any."""
        kind, index = self._kind, len(self.blocks)
        if kind is None:
            return self._owed_thinking()
        if kind == "tool_use":  # a parser always ends its calls; this is only a safeguard
            return self._end_call(CallEnd({}))
        out: list[StreamEvent] = []
        if kind == "thinking":
            out.extend(self._seal_thinking(index))
        elif kind == "text":
            self.blocks.append(OutputTextBlock(text="".join(self._parts)))
        self._kind, self._parts = None, []
        out.append(ContentBlockStop(index=index))
        return out

    # ----- block kinds -----------------------------------------------------------------

    def _text(self, text: str) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if self._kind != "text":
            if not text.strip():
                return []  # whitespace between blocks is not a block of its own
            out.extend(self.close())
            out.append(self._open("text", OutputTextBlock(text="")))
        self._parts.append(text)
        out.append(self._delta(TextDelta(text=text)))
        return out

    def _owed_thinking(self) -> list[StreamEvent]:
        """The empty thinking block of a thinking section the model closed at once, signed
        like any other (so that it round-trips), before whatever comes after it."""
        if not self._owes_thinking:
            return []
        return self._thinking("") + self.close()

    def _thinking(self, text: str) -> list[StreamEvent]:
        self._owes_thinking = False
        out: list[StreamEvent] = []
        if self._kind != "thinking":
            out.extend(self.close())
            if self._display == "redacted":
                self._kind, self._parts = "thinking", []  # announced when it closes
            else:
                out.append(self._open("thinking", OutputThinkingBlock(thinking="", signature="")))
        self._parts.append(text)
        if self._display == "summarized" and text:
            out.append(self._delta(ThinkingDelta(thinking=text)))
        return out

    def _seal_thinking(self, index: int) -> list[StreamEvent]:
        thinking = "".join(self._parts)
        if self._display == "redacted":
            block = OutputRedactedThinkingBlock(data=self._seal.redact(thinking))
            self.blocks.append(block)
            return [ContentBlockStart(index=index, content_block=block)]
        signature = self._seal.sign(thinking)
        delta = self._delta(SignatureDelta(signature=signature))  # before the block counts
        shown = thinking if self._display == "summarized" else ""
        self.blocks.append(OutputThinkingBlock(thinking=shown, signature=signature))
        return [delta]

    def _end_call(self, event: CallEnd) -> list[StreamEvent]:
        assert self._tool is not None
        identifier, name = self._tool
        if name in self._server_tools:
            self.blocks.append(OutputServerToolUseBlock(id=identifier, name=name, input=event.input))
        else:
            self.blocks.append(OutputToolUseBlock(id=identifier, name=name, input=event.input))
            self.tool_calls += 1
        index = len(self.blocks) - 1
        self._kind, self._parts, self._tool = None, [], None
        return [ContentBlockStop(index=index)]

    def _open(self, kind: BlockKind, block: Any) -> StreamEvent:
        self._kind, self._parts = kind, []
        return ContentBlockStart(index=len(self.blocks), content_block=block)

    def _delta(self, delta: Any) -> StreamEvent:
        return ContentBlockDelta(index=len(self.blocks), delta=delta)
