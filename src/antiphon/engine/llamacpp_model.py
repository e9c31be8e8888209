"""A loaded GGUF model: weights, vocabulary and metadata, through llama.cpp's C API.

Read-only after loading, so tokenizing and rendering pieces are safe from any thread; the
mutable state (context, KV cache, batch) lives in the engine thread (`llamacpp.py`).
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import llama_cpp

from antiphon.engine.base import ModelCard, Prompt, SamplingDefaults
from antiphon.engine.gpu_offload import GpuPlacement
from antiphon.engine.model_limits import ContextWindow, output_limit
from antiphon.engine.model_source import ModelSource, slug
from antiphon.engine.prompt_tokens import ControlTokens
from antiphon.engine.sampling_defaults import from_gguf, resolve_sampling

ProgressCallback = Callable[[float], None]

log = logging.getLogger(__name__)
llama_log = logging.getLogger("antiphon.llama_cpp")
_backend_ready = False
# ggml's log levels (ggml.h; the bindings' own table predates a reordering).
_GGML_ERROR, _GGML_CONTINUATION = 4, 5


def _log_line(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    """llama.cpp's own log lines go to Python logging, shown at --log-level debug."""
    message = text.decode("utf-8", errors="replace").rstrip()
    if message and level != _GGML_CONTINUATION:
        llama_log.log(logging.ERROR if level == _GGML_ERROR else logging.DEBUG, "%s", message)


_forward_log = llama_cpp.llama_log_callback(_log_line)  # kept alive here: C holds a pointer


class _LoadProgress:
    """llama.cpp's progress callback, kept to one float store. It runs inside the loader
    (on a GPU build, between weight uploads); a CUDA build crashed while this callback drew
    the terminal's progress bar (issue 15), and ran when it was not set. Drawing now
    happens on the thread that asked for the model, never from inside llama.cpp."""

    def __init__(self) -> None:
        self.fraction = 0.0
        self.callback = llama_cpp.llama_progress_callback(self._store)

    def _store(self, fraction: float, _user_data: ctypes.c_void_p) -> bool:
        self.fraction = float(fraction)
        return True


def _load_reporting_progress(
    path: bytes, params: llama_cpp.llama_model_params, progress: ProgressCallback | None
) -> llama_cpp.llama_model_p | None:
    """Load on a thread of its own while this one shows the progress: the caller's display
    is never drawn from inside llama.cpp."""
    reporter = _LoadProgress()
    params.progress_callback = reporter.callback  # kept alive by `reporter` until we return
    loaded: list[llama_cpp.llama_model_p | None] = [None]

    def load() -> None:
        loaded[0] = llama_cpp.llama_model_load_from_file(path, params)

    loader = threading.Thread(target=load, name="model-load", daemon=True)
    loader.start()
    while loader.is_alive():
        loader.join(0.1)
        if progress is not None:
            progress(reporter.fraction)
    return loaded[0]


def init_backend(verbose: bool) -> None:
    global _backend_ready
    llama_log.setLevel(logging.DEBUG if verbose else logging.ERROR)
    if not _backend_ready:
        llama_cpp.llama_log_set(_forward_log, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        _backend_ready = True


class LlamaModel:
    def __init__(self, handle: llama_cpp.llama_model_p, source: ModelSource) -> None:
        self.handle: llama_cpp.llama_model_p | None = handle
        self.vocab = llama_cpp.llama_model_get_vocab(handle)
        self.source = source
        # Read before any context exists: a context with YaRN scaling rewrites it.
        self.n_ctx_train = int(llama_cpp.llama_model_n_ctx_train(handle))
        self.layer_count = int(llama_cpp.llama_model_n_layer(handle))
        self.rope_scalable = llama_cpp.llama_model_rope_type(handle) != llama_cpp.LLAMA_ROPE_TYPE_NONE
        self.rope_freq_scale_train = float(llama_cpp.llama_model_rope_freq_scale_train(handle)) or 1.0
        self._pieces: dict[int, bytes] = {}
        self.control_tokens = ControlTokens.from_vocab(self.vocab, self.token_text)
        self.bos = int(llama_cpp.llama_vocab_bos(self.vocab))
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab)) and self.bos >= 0
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        self.end_of_generation_tokens = tuple(
            token for token in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(self.vocab, token)
        )

    @classmethod
    def load(
        cls, source: ModelSource, progress: ProgressCallback | None = None, verbose: bool = False,
        placement: GpuPlacement = GpuPlacement(), vocab_only: bool = False,
    ) -> tuple[LlamaModel, float]:
        """Load weights (memory-mapped, layers placed as `placement` says); returns the model
        and the seconds it took. `progress` is called on this thread with the fraction done.
        `vocab_only`: the vocabulary and metadata without weights (a remote model's
        tokenizer and chat template)."""
        init_backend(verbose)
        params = llama_cpp.llama_model_default_params()
        placement.apply(params)
        params.vocab_only = vocab_only
        started = time.perf_counter()
        handle = _load_reporting_progress(str(source.path).encode(), params, progress)
        if not handle:
            raise RuntimeError(f"llama.cpp could not load {source.path}")
        return cls(handle, source), time.perf_counter() - started

    def metadata(self, key: str) -> str | None:
        buffer = ctypes.create_string_buffer(4096)
        length = llama_cpp.llama_model_meta_val_str(self.handle, key.encode(), buffer, 4096)
        if length < 0:
            return None
        return buffer.value.decode("utf-8", errors="replace")

    def token_text(self, token: int) -> str:
        if token < 0:
            return ""
        text: bytes = llama_cpp.llama_vocab_get_text(self.vocab, token)
        return text.decode("utf-8", "replace")

    def card(
        self, window: ContextWindow, max_output_tokens: int, sampling: SamplingDefaults
    ) -> ModelCard:
        name = self.source.display_name or self.metadata("general.name") or self.source.path.stem
        template = llama_cpp.llama_model_chat_template(self.handle, None)
        return ModelCard(
            id=self.source.model_id or slug(name),
            display_name=name,
            path=str(self.source.path),
            context_window=window.tokens,
            trained_context=window.trained,
            yarn_factor=window.yarn_factor,
            max_output_tokens=max_output_tokens,
            sampling=sampling,
            created_at=Path(self.source.path).stat().st_mtime,
            chat_template=template.decode("utf-8") if template else None,
            bos_text=self.token_text(self.bos),
            eos_text=self.token_text(llama_cpp.llama_vocab_eos(self.vocab)),
        )

    def served_card(self, window: ContextWindow, max_output_setting: int | None) -> ModelCard:
        """The card for serving this model from its source: the output limit (its own
        option, else `max_output_setting`, else what we recommend) and sampling defaults
        (its option > the GGUF's > its model card's)."""
        source = self.source
        output = output_limit(
            window, source.max_output_tokens or max_output_setting,
            source.recommended_max_output_tokens,
        )
        sampling = resolve_sampling(
            ("set by --model", source.sampling),
            ("from the GGUF file", from_gguf(self.metadata)),
            ("from its model card", source.recommended_sampling),
        )
        return self.card(window, output, sampling)

    def tokenize(self, text: str, add_bos: bool, parse_control: bool) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 8
        tokens = (llama_cpp.llama_token * capacity)()
        arguments = (add_bos, parse_control)
        count = llama_cpp.llama_tokenize(self.vocab, data, len(data), tokens, capacity, *arguments)
        if count < 0:  # buffer too small: llama.cpp says how many it needs
            capacity = -count
            tokens = (llama_cpp.llama_token * capacity)()
            count = llama_cpp.llama_tokenize(
                self.vocab, data, len(data), tokens, capacity, *arguments
            )
        return list(tokens[:count])

    def tokenize_prompt(self, prompt: Prompt) -> list[int]:
        """Control tokens parsed in template spans only (see `prompt_tokens`); BOS first if
        the model wants one, exactly once even when the template writes it too."""
        ids = self.control_tokens.tokenize(
            prompt, lambda text: self.tokenize(text, add_bos=False, parse_control=False)
        )
        if self.add_bos and ids[:1] != [self.bos]:
            ids.insert(0, self.bos)
        return ids

    def piece(self, token: int) -> bytes:
        """The bytes a generated token stands for (special tokens render as nothing).

        Cached: the vocabulary is fixed, and this runs once per generated token."""
        cached = self._pieces.get(token)
        if cached is None:
            cached = self._pieces[token] = self.render_piece(token)
        return cached

    def render_piece(self, token: int) -> bytes:
        """`piece`, uncached: for a pass over the whole vocabulary."""
        buffer = ctypes.create_string_buffer(64)
        length = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, 64, 0, False)
        if length < 0:
            buffer = ctypes.create_string_buffer(-length)
            length = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, -length, 0, False)
        return buffer.raw[:length]

    def is_end_of_generation(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    def free(self) -> None:
        if self.handle:
            llama_cpp.llama_model_free(self.handle)
            self.handle = None
