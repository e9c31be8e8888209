"""A model's chat template (jinja2 from the GGUF), rendered in jinja's sandbox.

Templates come from model files, which are downloaded from strangers: the sandbox keeps them
from reaching Python internals. The helpers below are the ones Hugging Face's renderer
provides and that templates in the wild call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from antiphon.errors import InvalidRequest

# Used when a GGUF carries no template: ChatML, which most instruction-tuned models know.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class TemplateRenderError(InvalidRequest):
    """The template refused the conversation (it called `raise_exception`)."""


def _raise_exception(message: str) -> None:
    raise TemplateRenderError(message)


def _strftime_now(pattern: str) -> str:
    return datetime.now().strftime(pattern)


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, indent=indent)


class ChatTemplate:
    def __init__(self, source: str | None, bos_token: str, eos_token: str) -> None:
        environment = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
        )
        environment.globals["raise_exception"] = _raise_exception
        environment.globals["strftime_now"] = _strftime_now
        environment.filters["tojson"] = _tojson
        self.source = source or CHATML_TEMPLATE
        self._template = environment.from_string(self.source)
        self._constants = {"bos_token": bos_token, "eos_token": eos_token}

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        add_generation_prompt: bool,
        **variables: Any,
    ) -> str:
        """`variables` are extra template inputs such as `tools` or `enable_thinking`."""
        try:
            return self._template.render(
                messages=list(messages),
                add_generation_prompt=add_generation_prompt,
                **variables,
                **self._constants,
            )
        except TemplateRenderError:
            raise
        except jinja2.TemplateError as exc:
            raise TemplateRenderError(f"the model's chat template failed: {exc}") from exc
