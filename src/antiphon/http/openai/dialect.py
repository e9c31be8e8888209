"""Which requests speak OpenAI's dialect: their errors, rate-limit headers and model list
take OpenAI's shapes, and they need no `anthropic-version` header."""

from __future__ import annotations

from starlette.datastructures import Headers

CHAT_COMPLETIONS = "/v1/chat/completions"
_MODELS = "/v1/models"


def speaks_openai(path: str, headers: Headers) -> bool:
    """`/v1/chat/completions` always; `/v1/models` when the caller sends no
    `anthropic-version` (Anthropic's SDKs always send it, the OpenAI SDK never does)."""
    if path == CHAT_COMPLETIONS:
        return True
    is_models = path == _MODELS or path.startswith(_MODELS + "/")
    return is_models and not headers.get("anthropic-version", "").strip()
