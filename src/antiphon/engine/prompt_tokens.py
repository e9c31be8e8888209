"""Prompt spans → token ids, parsing control tokens in template text only.

This mirrors llama.cpp's own partitioning (`tokenizer_st_partition` in llama-vocab.cpp):
split at control tokens, tokenize each raw run on its own. Runs are cut only at control
tokens, and llama.cpp treats the start of a call like the position after a control token,
so SentencePiece space prefixes and merges come out as if the whole text were tokenized
with `parse_special=True`, except that client text never yields a control token. Tokens
llama.cpp always matches (user-defined ones) are still matched inside each run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import llama_cpp

from antiphon.engine.base import PromptSpan

TokenizeRaw = Callable[[str], list[int]]  # raw text → ids, no BOS, control tokens not parsed


@dataclass(frozen=True)
class ControlToken:
    id: int
    strip_left: bool  # LSTRIP: whitespace before the token is swallowed
    strip_right: bool  # RSTRIP: whitespace after it is swallowed


class ControlTokens:
    def __init__(self, tokens: dict[str, ControlToken]) -> None:
        self._tokens = tokens
        # Longest first, so the longest control token wins where several start at one place.
        ordered = sorted(tokens, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(token.id for token in self._tokens.values())

    @classmethod
    def from_vocab(cls, vocab: llama_cpp.llama_vocab_p, piece_text: Callable[[int], str]) -> ControlTokens:
        wanted = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
        tokens: dict[str, ControlToken] = {}
        for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
            attributes = int(llama_cpp.llama_vocab_get_attr(vocab, token))
            text = piece_text(token)
            if attributes & wanted and text and text not in tokens:
                tokens[text] = ControlToken(
                    token,
                    bool(attributes & llama_cpp.LLAMA_TOKEN_ATTR_LSTRIP),
                    bool(attributes & llama_cpp.LLAMA_TOKEN_ATTR_RSTRIP),
                )
        return cls(tokens)

    def tokenize(self, spans: Iterable[PromptSpan], tokenize_raw: TokenizeRaw) -> list[int]:
        ids: list[int] = []
        raw: list[str] = []  # text since the last control token
        strip_next = False

        def add_raw(text: str) -> None:
            nonlocal strip_next
            if strip_next:
                text = text.lstrip()
                strip_next = not text
            if text:
                raw.append(text)

        def flush(strip_trailing: bool) -> None:
            text = "".join(raw)
            raw.clear()
            if strip_trailing:
                text = text.rstrip()
            if text:
                ids.extend(tokenize_raw(text))

        for span in spans:
            if span.from_client or self._pattern is None:
                add_raw(span.text)
                continue
            position = 0
            for match in self._pattern.finditer(span.text):
                token = self._tokens[match.group()]
                add_raw(span.text[position : match.start()])
                flush(strip_trailing=token.strip_left)
                ids.append(token.id)
                strip_next = token.strip_right
                position = match.end()
            add_raw(span.text[position:])
        flush(strip_trailing=False)
        return ids
