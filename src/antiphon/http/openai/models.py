"""The served models in OpenAI's shapes, for the OpenAI SDK's `models.list()`/`retrieve()`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from antiphon.protocol.models import ModelInfo
from antiphon.protocol.openai_responses import OpenAIModel, OpenAIModelList

OWNER = "antiphon"


def to_openai_model(info: ModelInfo) -> OpenAIModel:
    created = datetime.fromisoformat(info.created_at.replace("Z", "+00:00"))
    return OpenAIModel(id=info.id, created=int(created.timestamp()), owned_by=OWNER)


def to_openai_list(infos: Iterable[ModelInfo]) -> OpenAIModelList:
    """Every model, newest first (OpenAI's list is not paged)."""
    ordered = sorted(infos, key=lambda info: (info.created_at, info.id), reverse=True)
    return OpenAIModelList(data=[to_openai_model(info) for info in ordered])
