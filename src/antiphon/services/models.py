"""The served models: lookup by id or alias, and the `/v1/models` listing."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from antiphon.chat.template import ChatTemplate
from antiphon.engine.base import Engine, ModelCard
from antiphon.errors import InvalidRequest, NotFound
from antiphon.ids import rfc3339
from antiphon.protocol.models import ModelInfo, ModelList
from antiphon.services.admission import Admission


def _shown(name: str, limit: int = 100) -> str:
    """A client's model name, quoted, cut short: error messages must stay readable."""
    return repr(name if len(name) <= limit else name[:limit] + "…")


@dataclass(frozen=True)
class ServedModel:
    card: ModelCard
    engine: Engine
    template: ChatTemplate

    @property
    def info(self) -> ModelInfo:
        created = datetime.fromtimestamp(self.card.created_at, UTC).replace(microsecond=0)
        return ModelInfo(
            id=self.card.id,
            display_name=self.card.display_name,
            created_at=rfc3339(created),
            # The longest prompt accepted (one position stays for the answer), and the
            # largest max_tokens served as asked (beyond it: clamped, or 400 with --strict).
            max_input_tokens=self.card.context_window - 1,
            max_tokens=self.card.max_output_tokens,
        )


@dataclass(frozen=True)
class Alias:
    pattern: str
    target: str | None  # None: the default model

    @classmethod
    def parse(cls, spec: str) -> Alias:
        pattern, _, target = spec.partition("=")
        return cls(pattern.strip(), target.strip() or None)


class ModelRegistry:
    def __init__(self, models: list[ServedModel], aliases: list[Alias]) -> None:
        if not models:
            raise ValueError("at least one model must be served")
        self._models = {model.card.id: model for model in models}
        self.default = models[0]
        for alias in aliases:
            if alias.target is not None and alias.target not in self._models:
                raise ValueError(f"alias {alias.pattern!r} points at unknown model {alias.target!r}")
        self._aliases = aliases
        self.admission = Admission()

    def __iter__(self) -> Iterator[ServedModel]:
        return iter(self._models.values())

    def resolve(self, name: str) -> ServedModel | None:
        if name in self._models:
            return self._models[name]
        for alias in self._aliases:
            if fnmatch.fnmatchcase(name, alias.pattern):
                return self._models[alias.target] if alias.target else self.default
        return None

    def for_request(self, name: str) -> ServedModel:
        """The model a request names; unknown names are the request's fault (400)."""
        model = self.resolve(name)
        if model is None:
            served = ", ".join(sorted(self._models))
            raise InvalidRequest(f"model: {_shown(name)} is not served here (served: {served})")
        return model

    def refuse_when_all_busy(self) -> None:
        """529 before a generation request's body is read, when no model could take it."""
        self.admission.refuse_when_all_busy(self._models.values())

    def get_info(self, name: str) -> ModelInfo:
        model = self.resolve(name)
        if model is None:
            raise NotFound(f"model {_shown(name)} not found")
        return model.info

    def list_page(
        self, limit: int, before_id: str | None, after_id: str | None
    ) -> ModelList:
        """Newest first, cursor-paged like every list of the API."""
        if before_id and after_id:
            raise InvalidRequest("before_id and after_id cannot be used together")
        ordered = sorted(
            (model.info for model in self._models.values()),
            key=lambda info: (info.created_at, info.id),
            reverse=True,
        )
        ids = [info.id for info in ordered]
        for cursor in (before_id, after_id):
            if cursor is not None and cursor not in ids:
                raise InvalidRequest(f"no model with id {cursor!r} to page from")
        if after_id is not None:
            start = ids.index(after_id) + 1
            page = ordered[start : start + limit]
            has_more = start + limit < len(ordered)
        elif before_id is not None:
            end = ids.index(before_id)
            page = ordered[max(0, end - limit) : end]
            has_more = end - limit > 0
        else:
            page = ordered[:limit]
            has_more = limit < len(ordered)
        return ModelList(
            data=page,
            first_id=page[0].id if page else None,
            last_id=page[-1].id if page else None,
            has_more=has_more,
        )
