"""The Workbench's saved prompts: save (a JSON call from the page), delete (a form), and
what the page needs to list and reopen them. Each member has their own (services/
console_prompts); what is saved is the Workbench's state as the page holds it, checked here
against `PromptState` so that only that shape is ever stored and reopened."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from antiphon.errors import InvalidRequest
from antiphon.http.body import describe_validation_error
from antiphon.http.console.session import Visit, page, see_other
from antiphon.http.console.workbench_run import json_visit, read_body
from antiphon.http.routes.admin.views import platform
from antiphon.services.console_prompts import MAX_BODY_CHARS, ConsolePromptService

WORKBENCH = "/console/workbench"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Turn(_Strict):
    role: Literal["user", "assistant"]
    text: str


class PromptState(_Strict):
    """The Workbench's fields, as typed (stop sequences one a line, tools and the output
    schema as JSON text, which need not be valid yet to be saved)."""

    system: str = ""
    turns: list[Turn] = Field(default_factory=list)
    variables: dict[str, str] = Field(default_factory=dict)
    model: str = ""
    max_tokens: int | None = None
    temperature: float | None = None
    stop_sequences: str = ""
    thinking: bool = False
    thinking_budget: int | None = None
    tools: str = ""
    tool_choice: Literal["auto", "any", "none"] = "auto"
    output_schema: str = ""


class SavePrompt(_Strict):
    name: str
    prompt: PromptState


def prompts(request: Request) -> ConsolePromptService:
    return ConsolePromptService.over(platform(request).database)


async def opened_prompt(request: Request, visit: Visit, prompt_id: str) -> dict[str, Any]:
    """A saved prompt of this member's, for the page to fill the Workbench with."""
    opened = await prompts(request).open(visit.user.id, prompt_id)
    return {"id": opened.id, "name": opened.name, "prompt": json.loads(opened.body)}


async def save_prompt(request: Request) -> Response:
    """Save the Workbench's state under a name (201), replacing this member's prompt of
    that name; the answer is what the page's list shows."""
    visit = await json_visit(request)
    # JSON may escape each character in up to 6 bytes (a \\uXXXX): bound the bytes by that.
    body = await read_body(request, limit=6 * MAX_BODY_CHARS + 64 * 1024)
    try:
        wanted = SavePrompt.model_validate_json(body)
    except ValidationError as error:
        raise InvalidRequest(describe_validation_error(error)) from None
    saved = await prompts(request).save(visit.user.id, wanted.name, wanted.prompt.model_dump_json())
    return JSONResponse({"id": saved.id, "name": saved.name, "updated_at": saved.updated_at.isoformat()},
                        status_code=201, headers={"Cache-Control": "no-store"})


@page()
async def delete_prompt(request: Request, visit: Visit) -> Response:
    await prompts(request).delete(visit.user.id, request.path_params["prompt_id"])
    return see_other(WORKBENCH)
