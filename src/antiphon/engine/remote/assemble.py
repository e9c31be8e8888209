"""From a pool's `--model` spec to a running `RemoteEngine`: ask each upstream what it
serves, load the model's vocabulary, and size the window and the pool from their answers.

Upstreams that do not answer at start-up join the pool ejected and are taken in once their
health check passes; at least one must answer unless `;ctx=` says the window.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from antiphon.engine import repetition
from antiphon.engine.llamacpp_model import LlamaModel
from antiphon.engine.model_limits import ContextWindow
from antiphon.engine.model_source import ModelSource, RemoteModelSource, tokenizer_path
from antiphon.engine.remote.dialects import DIALECTS, Dialect
from antiphon.engine.remote.engine import RemoteEngine, RemoteLimits
from antiphon.engine.remote.output import Vocabulary
from antiphon.engine.remote.pool import Upstream, UpstreamPool
from antiphon.engine.remote.router import Router
from antiphon.engine.remote.segment import UpstreamFacts, UpstreamFailed
from antiphon.engine.remote.shared_routes import SharedRoutes, pool_key


@dataclass(frozen=True)
class PoolSettings:
    ctx: int | None  # the window, where set (the model's `;ctx=` or --ctx)
    max_output_tokens: int | None  # --max-output-tokens
    max_queue: int
    repetition_window: int
    verbose: bool = False
    redis_url: str | None = None  # replicas share their routing memory there


def assemble(source: RemoteModelSource, settings: PoolSettings) -> tuple[RemoteEngine, str]:
    """The engine and a line saying what it serves; ValueError says why it cannot start."""
    dialect = DIALECTS[source.upstreams.kind]
    facts = asyncio.run(_probe(dialect, source.upstreams.urls, source.options.headers))
    answered = [fact for fact in facts if isinstance(fact, UpstreamFacts)]
    if not answered and (source.options.tokenizer is None or settings.ctx is None):
        reasons = "; ".join(str(fact) for fact in facts)  # each names its URL
        raise ValueError(
            f"no upstream answered ({reasons}); to start anyway, say the window with ;ctx=N "
            "and the model file with ;tokenizer=PATH.gguf"
        )
    tokenizer = _tokenizer_source(source, answered)
    model, _ = LlamaModel.load(tokenizer, verbose=settings.verbose, vocab_only=True)
    answering = [url for url, fact in zip(source.upstreams.urls, facts)
                 if isinstance(fact, UpstreamFacts)]
    mismatch = asyncio.run(_vocabulary_mismatch(dialect, answering, source.options.headers, model))
    if mismatch is not None:
        model.free()
        raise ValueError(
            f"{mismatch}: the upstream's model is not the one in {tokenizer.path} (they "
            "tokenize a sample text differently); give its GGUF file as ;tokenizer="
        )
    window = _window(source, settings, answered, model)
    card = model.served_card(window, settings.max_output_tokens)
    # One that did not answer is taken to have as many slots as the others (fleets are
    # usually alike) until its own concurrency is set.
    usual = max((fact.slots for fact in answered), default=1)
    upstreams = [
        Upstream(url, source.options.concurrency
                 or (fact.slots if isinstance(fact, UpstreamFacts) else usual),
                 healthy=isinstance(fact, UpstreamFacts))
        for url, fact in zip(source.upstreams.urls, facts)
    ]
    # Round-robin remembers nothing, so it has nothing to share.
    shared = (SharedRoutes(settings.redis_url, pool_key(card.id, source.upstreams.urls))
              if settings.redis_url and source.options.routing == "affinity" else None)
    pool = UpstreamPool(card.id, upstreams, Router(len(upstreams), source.options.routing),
                        settings.max_queue, shared)
    engine = RemoteEngine(
        card, model, _vocabulary(model, settings.repetition_window), pool, dialect,
        RemoteLimits(settings.repetition_window, source.options.health_interval,
                     tuple(source.options.headers.items())),
    )
    down = [f"{url} ({fact})" for url, fact in zip(source.upstreams.urls, facts)
            if not isinstance(fact, UpstreamFacts)]
    line = (
        f"serving [bold]{card.id}[/] ({card.display_name}) on {len(upstreams)} "
        f"{source.upstreams.kind} upstream(s) ({source.options.routing} routing"
        f"{' shared with replicas through Redis' if pool.shared else ''}, "
        f"{', '.join(f'{u.url} ×{u.limit}' for u in upstreams)}); tokenizer {tokenizer.path}; "
        f"{window.tokens}-token window, answers up to {card.max_output_tokens} tokens; "
        f"unless a request says otherwise, {card.sampling.describe()}"
        + (f"; not answering yet: {', '.join(down)}" if down else "")
    )
    return engine, line


async def _probe(dialect: Dialect, urls: tuple[str, ...],
                 headers: dict[str, str]) -> list[UpstreamFacts | str]:
    async with aiohttp.ClientSession(headers=headers) as client:
        async def one(url: str) -> UpstreamFacts | str:
            try:
                return await dialect.read_facts(client, url)
            except UpstreamFailed as failure:
                return str(failure)
        return list(await asyncio.gather(*(one(url) for url in urls)))


# Words, digits, punctuation, code, non-Latin scripts and emoji: enough to tell vocabularies
# apart, free of special tokens (which engines parse differently in a tokenize call).
_SAMPLE_TEXT = (
    "Hello, world! The year 2026: naïve café, Straße, 東京, Москва, مرحبا 🚀\n"
    "def f(x):\n\treturn {'key': [1, 2.5, None]}  # done"
)


async def _vocabulary_mismatch(dialect: Dialect, urls: list[str], headers: dict[str, str],
                               model: LlamaModel) -> str | None:
    """The first upstream whose tokens for a sample text differ from ours, if any. One
    that cannot tokenize now is not held against the pool (it is checked no further)."""
    ours = list(model.tokenize(_SAMPLE_TEXT, False, False))
    async with aiohttp.ClientSession(headers=headers) as client:
        for url in urls:
            try:
                theirs = await dialect.tokenize(client, url, _SAMPLE_TEXT)
            except UpstreamFailed:
                continue
            if theirs != ours:
                return url
    return None


def _tokenizer_source(source: RemoteModelSource, answered: list[UpstreamFacts]) -> ModelSource:
    if source.options.tokenizer is not None:
        return source.tokenizer_source(tokenizer_path(source.options.tokenizer))
    for fact in answered:
        if fact.model_path and Path(fact.model_path).is_file():
            return source.tokenizer_source(Path(fact.model_path))
    raise ValueError(
        f"{source.model_id or 'a remote model'}: cannot find its tokenizer; add "
        ";tokenizer=PATH.gguf (the upstream's model file) to its --model"
    )


def _window(source: RemoteModelSource, settings: PoolSettings, answered: list[UpstreamFacts],
            model: LlamaModel) -> ContextWindow:
    smallest = min((fact.slot_context for fact in answered), default=None)
    tokens = settings.ctx or smallest
    assert tokens is not None  # checked in `assemble`
    if smallest is not None and tokens > smallest:
        raise ValueError(
            f"ctx {tokens} is more than an upstream's window per request ({smallest} tokens)"
        )
    return ContextWindow(tokens, model.n_ctx_train or tokens)


def _vocabulary(model: LlamaModel, repetition_window: int) -> Vocabulary:
    kinds = (repetition.TokenKinds.of_vocabulary(model.n_vocab, model.render_piece)
             if repetition_window else repetition.TokenKinds())
    eog = frozenset(model.end_of_generation_tokens)
    return Vocabulary(
        piece=model.piece,
        end_of_generation=eog,
        control_tokens=tuple(t for t in model.control_tokens.ids if t not in eog),
        tokenize_template_text=lambda text: model.tokenize(text, False, True),
        token_kinds=kinds,
    )
