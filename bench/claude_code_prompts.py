"""Claude Code's requests for bench/claude_code_workload.py, and their exact prompt tokens.

The requests are the ones captured from Claude Code 2.1.330 in tests/fixtures/claude_code/
(its default first request: system prompt, 12 tools, the environment message; and its second
turn after a Read call). antiphon receives them as Claude Code sends them. llama-server
receives the very token ids antiphon's renderer makes of them, through its `/completion`
endpoint, so that both engines prefill and decode the same sequence: the comparison is of
the engines, not of two ways to render tools.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "claude_code"
# What changes between two sessions of Claude Code in the same folder: its per-run billing
# block (antiphon does not render it) and the ids in metadata and headers.
BILLING = re.compile(r"cc_version=[0-9.]+\.[0-9a-f]+")
# An assistant turn that makes the answer long, to time decoding at the prompt's depth.
LONG_ANSWER_PREFILL = "Here is every tool I can use, one by one, with what it does:\n\n1."


@dataclass(frozen=True)
class Step:
    """One request of the workload: what it measures, its body, and how long its answer may
    be (only time to first token matters for most steps)."""

    name: str
    body: dict
    max_tokens: int


def fixture_body(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())["body"]


def as_another_session(body: dict, session: int, question: str | None = None) -> dict:
    """The same first request from a later session: a new billing block and session id, and
    the user's question replaced when one is given."""
    body = copy.deepcopy(body)
    for block in body["system"]:
        block["text"] = BILLING.sub(f"cc_version=2.1.330.{session:03x}", block["text"])
    body["metadata"]["user_id"] = body["metadata"]["user_id"].replace("00000000-0000", f"{session:08x}-0000")
    if question is not None:
        first = body["messages"][0]["content"]
        first[-1] = {**first[-1], "text": question}
    return body


def with_prefill(body: dict, text: str) -> dict:
    body = copy.deepcopy(body)
    body["messages"].append({"role": "assistant", "content": text})
    return body


def workload(decode_tokens: int, ttft_tokens: int) -> list[Step]:
    first = fixture_body("main_turn")
    return [
        Step("first request", first, ttft_tokens),
        Step("decode at that depth", with_prefill(first, LONG_ANSWER_PREFILL), decode_tokens),
        Step("second turn", fixture_body("tool_result_turn"), ttft_tokens),
        Step("second session, same question", as_another_session(first, 2), ttft_tokens),
        Step("second session, new question",
             as_another_session(first, 3, "Which files in this folder are the largest?"),
             ttft_tokens),
    ]


class Renderer:
    """antiphon's own rendering and tokenizing of a Messages request, in this process."""

    def __init__(self) -> None:
        from antiphon.chat.template import ChatTemplate
        from antiphon.engine.base import SamplingDefaults
        from antiphon.engine.llamacpp_model import LlamaModel
        from antiphon.engine.model_limits import ContextWindow
        from antiphon.engine.model_source import resolve_sources
        from antiphon.services.models import ServedModel
        from antiphon.services.thinking_seal import ThinkingSeal

        self._model, _ = LlamaModel.load(resolve_sources(())[0])
        card = self._model.card(ContextWindow(32768, 8192, 4.0), 4096, SamplingDefaults())
        template = ChatTemplate(card.chat_template, card.bos_text, card.eos_text)
        # Rendering reads the card and the template only; the engine is never called.
        self._served = ServedModel(card, None, template)  # type: ignore[arg-type]
        self._seal = ThinkingSeal(b"bench-secret-not-used-for-these")

    def tokens(self, body: dict) -> list[int]:
        from antiphon.protocol.messages import MessagesRequest
        from antiphon.services.message_plan import plan_message

        request = MessagesRequest.model_validate(body)
        plan = plan_message(request, self._served, self._seal)
        return self._model.tokenize_prompt(plan.prompt)

    @property
    def gguf(self) -> Path:
        return Path(self._model.source.path)
