"""The two streamed APIs loadgen speaks, on the wire: request bodies, the SSE decoder, and
how each event updates a request's result (``/v1/messages`` and, for ``--api openai``,
``/v1/chat/completions``). No I/O: the unit tests feed it recorded streams."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Optional

from loadgen_stats import RequestResult

# OpenAI-style streams end with ``data: [DONE]``, which is not JSON; the decoder reports it
# as this event (with an empty payload).
DONE = "[DONE]"


class SSEDecoder:
    """Feed lines, get (event, data) when an event completes. Network-free so the
    sync parse_sse() (tested) and the async request loop share the same logic."""

    def __init__(self) -> None:
        self.event: Optional[str] = None
        self.data: list[str] = []

    def feed(self, line: str) -> Optional[tuple[str, dict]]:
        line = line.rstrip("\r\n")
        if not line:
            return self.flush()
        if line.startswith(":"):  # SSE comment / keep-alive
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self.event = value
        elif field == "data":
            self.data.append(value)
        return None

    def flush(self) -> Optional[tuple[str, dict]]:
        if not self.data:
            self.event = None
            return None
        text = "\n".join(self.data)
        if text == DONE:
            self.event, self.data = None, []
            return DONE, {}
        data = json.loads(text)
        # Fall back to the payload's "type" for servers that omit the event: line.
        event = self.event or (data.get("type") if isinstance(data, dict) else None) or "message"
        self.event, self.data = None, []
        return event, data


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, dict]]:
    decoder = SSEDecoder()
    for line in lines:
        if (ev := decoder.feed(line)) is not None:
            yield ev
    if (ev := decoder.flush()) is not None:  # stream ended without a final blank line
        yield ev


def apply_usage(res: RequestResult, usage: dict) -> None:
    """Take the usage fields a server did report. Counts are cumulative per the spec, so
    the last report wins; servers differ in which event carries which field (llama-server
    puts the prompt split only in message_start), so absent fields keep earlier values."""
    for name in ("input_tokens", "output_tokens",
                 "cache_read_input_tokens", "cache_creation_input_tokens"):
        if isinstance(value := usage.get(name), int):
            setattr(res, name, value)


def apply_text(res: RequestResult, text: str, elapsed: float) -> None:
    """One non-empty piece of answer text: the first sets TTFT, later ones add an ITL gap."""
    if res.ttft_s is None:
        res.ttft_s = elapsed
    if res.last_delta_s is not None:
        res.delta_gaps_s.append(elapsed - res.last_delta_s)
    res.last_delta_s = elapsed
    res.text += text


def apply_event(res: RequestResult, event: str, data: dict, elapsed: float) -> bool:
    """Update res from one /v1/messages SSE event; returns True when the stream is finished."""
    if event == "message_start":
        apply_usage(res, data.get("message", {}).get("usage") or {})
    elif event == "content_block_delta":
        delta = data.get("delta", {})
        if delta.get("type") == "text_delta" and (text := delta.get("text")):
            apply_text(res, text, elapsed)
    elif event == "message_delta":
        apply_usage(res, data.get("usage") or {})
    elif event == "error":
        err = data.get("error", {})
        res.error = f"{err.get('type', 'error')}: {err.get('message', data)}"
        return True
    elif event == "message_stop":
        res.ok, res.latency_s = True, elapsed
        return True
    return False


def apply_openai_event(res: RequestResult, event: str, data: dict, elapsed: float) -> bool:
    """Update res from one /v1/chat/completions SSE chunk; True when the stream is finished.
    Text is choices[0].delta.content; usage comes in the last chunk (stream_options), its
    prompt_tokens counting the cached part too, which the Messages API reports apart."""
    if event == DONE:
        res.ok, res.latency_s = True, elapsed
        return True
    if (err := data.get("error")) is not None:
        err = err if isinstance(err, dict) else {"message": err}
        res.error = f"{err.get('type') or 'error'}: {err.get('message', data)}"
        return True
    choices = data.get("choices") or [{}]
    if text := (choices[0].get("delta") or {}).get("content"):
        apply_text(res, text, elapsed)
    if usage := data.get("usage"):
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
        if isinstance(cached, int):
            res.cache_read_input_tokens = cached
        if isinstance(prompt := usage.get("prompt_tokens"), int):
            res.input_tokens = prompt - (cached if isinstance(cached, int) else 0)
        if isinstance(completion := usage.get("completion_tokens"), int):
            res.output_tokens = completion
    return False


def build_body(args: argparse.Namespace, prompt: str | list[dict],
               system: Optional[str] = None) -> dict:
    """A prompt string is one user message; a list is the whole conversation."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    body = {
        "model": args.model,
        "max_tokens": args.max_tokens,
        "stream": True,
        "temperature": args.temperature,
        "seed": args.seed,
        "messages": messages,
    }
    for name in ("top_k", "top_p"):
        if (value := getattr(args, name, None)) is not None:
            body[name] = value
    if system is not None:
        body["system"] = system
    return body


def build_openai_body(args: argparse.Namespace, prompt: str) -> dict:
    """The same request as build_body's, as a chat completion (with usage in the stream)."""
    return {**build_body(args, prompt), "stream_options": {"include_usage": True}}


@dataclass(frozen=True)
class Api:
    """What differs between the two streamed endpoints."""
    path: str
    build_body: Callable[[argparse.Namespace, str], dict]
    apply_event: Callable[[RequestResult, str, dict, float], bool]
    last_event: str  # for the error when the stream ends before it


MESSAGES = Api("/v1/messages", build_body, apply_event, "message_stop")
APIS: dict[str, Api] = {
    "messages": MESSAGES,
    "openai": Api("/v1/chat/completions", build_openai_body, apply_openai_event, DONE),
}
