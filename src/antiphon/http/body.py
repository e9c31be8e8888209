"""Parse once, at the edge: request JSON → a protocol model, or a 400 that says what's wrong."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from starlette.requests import Request

from antiphon.errors import InvalidRequest

Model = TypeVar("Model", bound=BaseModel)
_MAX_REPORTED = 3


def _location(error: ErrorDetails) -> str:
    # Union branches add labels such as `str` or `list[...]` that mean nothing to a client.
    parts = [
        str(part)
        for part in error["loc"]
        if not (isinstance(part, str) and ("[" in part or part in ("str", "int", "float", "bool")))
    ]
    return ".".join(parts)


def describe_validation_error(exc: ValidationError) -> str:
    details = exc.errors(include_url=False)
    if any(detail["type"] == "json_invalid" for detail in details):
        first = next(d for d in details if d["type"] == "json_invalid")
        return f"request body is not valid JSON: {first['ctx'].get('error', first['msg'])}"
    if any(detail["type"] == "model_type" and not detail["loc"] for detail in details):
        return "request body must be a JSON object"
    # A value that fits no branch of a union fails every branch; the deepest failure is the
    # one that says what the client got wrong.
    details.sort(key=lambda detail: len(detail["loc"]), reverse=True)
    messages: list[str] = []
    for detail in details:
        location = _location(detail)
        message = f"{location}: {detail['msg']}" if location else detail["msg"]
        if message not in messages:
            messages.append(message)
        if len(messages) == _MAX_REPORTED:
            break
    return "; ".join(messages)


async def read_model(request: Request, model: type[Model]) -> Model:
    body = await request.body()
    if not body.strip():
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc)) from None
