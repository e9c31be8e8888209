"""llama.cpp's own reading of the embedded model, to check antiphon's answers against.

Asserting that a 135M model knows the capital of France tests the model, not the server.
What the server owes is the model's own answer: the conversation rendered with the model's
chat template, read, and decoded greedily as llama.cpp does it. So tests compare antiphon's
greedy answer with llama-cpp-python's high-level API (its own Jinja rendering of the GGUF's
template, its own sampler) on the same file, in a context like the test server's (2,048
cells, no RoPE scaling). Different batching can move the last bits of a logit, so the
comparison is over the opening of the answer, where a near tie is unlikely to flip.
"""

from __future__ import annotations

import functools
from typing import Any

import llama_cpp

from antiphon.engine.model_source import embedded_model_path

OPENING_CHARACTERS = 24  # compared: about the first five tokens of an answer


@functools.cache
def _reference() -> llama_cpp.Llama:
    return llama_cpp.Llama(model_path=str(embedded_model_path()), n_ctx=2048, n_threads=2,
                           verbose=False)


def reference_answer(messages: list[dict[str, Any]], max_tokens: int) -> str:
    """The greedy answer llama.cpp gives to a conversation (its last turn a user's)."""
    completion = _reference().create_chat_completion(
        messages=messages, max_tokens=max_tokens, temperature=0.0, repeat_penalty=1.0  # type: ignore[arg-type]
    )
    return completion["choices"][0]["message"]["content"] or ""  # type: ignore[index]


def reference_continuation(messages: list[dict[str, Any]], prefill: str, max_tokens: int) -> str:
    """The greedy continuation of an assistant turn that starts with `prefill`: the chat
    rendered up to the assistant's turn, the prefill appended, as the API continues it."""
    model = _reference()
    formatter = llama_cpp.llama_chat_format.Jinja2ChatFormatter(
        template=model.metadata["tokenizer.chat_template"],
        bos_token=model._model.token_get_text(model.token_bos()),
        eos_token=model._model.token_get_text(model.token_eos()),
    )
    prompt = formatter(messages=messages).prompt + prefill  # type: ignore[arg-type]
    completion = model.create_completion(prompt, max_tokens=max_tokens, temperature=0.0,
                                         repeat_penalty=1.0)
    return completion["choices"][0]["text"]  # type: ignore[index]


def same_opening(served: str, reference: str) -> bool:
    """Whether two greedy answers open the same way (whitespace at the edges aside)."""
    served, reference = served.strip(), reference.strip()
    length = min(OPENING_CHARACTERS, len(reference))
    return length > 0 and served[:length] == reference[:length]
