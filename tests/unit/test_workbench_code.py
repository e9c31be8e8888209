"""The Workbench's "Get code": the programs it writes are valid and send exactly the request
(Python parsed back with `ast`, TypeScript read back as JSON, curl's body as JSON), and the
SDK parameter lists match the pinned `anthropic` SDK."""

from __future__ import annotations

import ast
import inspect
import json
import re
import shlex
from typing import Any

import anthropic
import pytest

from antiphon.http.console.workbench_code import (
    PYTHON_SDK_PARAMS,
    code_samples,
    python_literal,
    python_string,
)

BASE_URL = "http://127.0.0.1:8080"
SIMPLE: dict[str, Any] = {
    "model": "smollm2-135m-instruct", "max_tokens": 32,
    "messages": [{"role": "user", "content": "Say hi to Ada"}],
}
FULL: dict[str, Any] = {
    "model": "smollm2-135m-instruct",
    "max_tokens": 512,
    "temperature": 0.7,
    "system": 'You are "terse".\nAnswer in one line; use \\n for breaks.\ttab',
    "messages": [
        {"role": "user", "content": "Weather in Zürich? 🌦️ ' quotes ' and $HOME `ls`"},
        {"role": "assistant", "content": "Let me check."},
        {"role": "user", "content": "line one\u2028line two \x00 nul \ud800 lone"},
    ],
    "stop_sequences": ["\n\nHuman:", "END"],
    "thinking": {"type": "enabled", "budget_tokens": 256},
    "tools": [{"name": "get_weather", "description": "Current weather",
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                "required": ["city"], "additionalProperties": False},
               "cache_control": None}],
    "output_config": {"format": {"type": "json_schema", "schema": {
        "type": "object", "properties": {"answer": {"type": "string"}, "n": {"type": "number", "minimum": 1e-05}}}}},
    "top_k": 40,
    "with space": [1, -2, 3.5, True, False, None, {}, []],
}


def _create_call(tree: ast.Module) -> ast.Call:
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr == "create"]
    assert len(calls) == 1
    return calls[0]


def python_request(code: str) -> dict[str, Any]:
    """The body the Python program sends: its keyword arguments, with `extra_body` merged."""
    call = _create_call(ast.parse(code))
    sent = {str(keyword.arg): ast.literal_eval(keyword.value) for keyword in call.keywords}
    sent.update(sent.pop("extra_body", {}))
    return sent


def typescript_request(code: str) -> dict[str, Any]:
    """The object literal passed to `messages.create`, read as JSON: quote the bare keys
    and drop the trailing commas and the type checker's comments."""
    literal = code[code.index("messages.create(") + len("messages.create("):code.rindex("});") + 1]
    literal = re.sub(r"^\s*// @ts-expect-error.*\n", "", literal, flags=re.M)
    literal = re.sub(r"^(\s*)([A-Za-z_$][\w$]*): ", r'\1"\2": ', literal, flags=re.M)
    literal = re.sub(r"([{\[,]\s*)([A-Za-z_$][\w$]*): ", r'\1"\2": ', literal)
    literal = re.sub(r",(\s*[}\]])", r"\1", literal)
    return json.loads(literal)


def curl_request(code: str) -> dict[str, Any]:
    body = code[code.index("<<'JSON'\n") + len("<<'JSON'\n"):code.rindex("\nJSON\n")]
    return json.loads(body)


@pytest.mark.parametrize("request_body", [SIMPLE, FULL], ids=["simple", "full"])
def test_each_program_sends_exactly_the_request(request_body: dict[str, Any]) -> None:
    samples = code_samples(request_body, BASE_URL)
    compile(samples.python, "workbench.py", "exec")
    assert python_request(samples.python) == request_body
    assert typescript_request(samples.typescript) == request_body
    assert curl_request(samples.curl) == request_body


def test_python_uses_the_sdk_its_arguments_and_the_key_from_the_environment() -> None:
    code = code_samples(FULL, BASE_URL).python
    tree = ast.parse(code)
    client = next(node for node in ast.walk(tree) if isinstance(node, ast.Call)
                  and isinstance(node.func, ast.Attribute) and node.func.attr == "Anthropic")
    options = {keyword.arg: keyword.value for keyword in client.keywords}
    assert ast.literal_eval(options["base_url"]) == BASE_URL
    assert ast.unparse(options["api_key"]) == "os.environ['ANTHROPIC_API_KEY']"
    arguments = {keyword.arg for keyword in _create_call(tree).keywords}
    # What the SDK has no argument for goes in extra_body, where it cannot be a TypeError.
    assert arguments - {"extra_body"} <= PYTHON_SDK_PARAMS
    assert ast.literal_eval(next(k.value for k in _create_call(tree).keywords if k.arg == "extra_body")) == {
        "temperature": 0.7, "top_k": 40, "with space": FULL["with space"]}
    assert "extra_body" not in code_samples(SIMPLE, BASE_URL).python


def test_the_python_parameter_list_is_the_pinned_sdks() -> None:
    signature = inspect.signature(anthropic.resources.messages.Messages.create)
    keywords = {name for name, parameter in signature.parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY}
    assert keywords - {"extra_headers", "extra_query", "extra_body", "timeout"} == PYTHON_SDK_PARAMS


def test_typescript_marks_what_its_types_do_not_list() -> None:
    code = code_samples(FULL, BASE_URL).typescript
    assert code.startswith('import Anthropic from "@anthropic-ai/sdk";')
    assert 'baseURL: "http://127.0.0.1:8080"' in code and 'process.env["ANTHROPIC_API_KEY"]' in code
    marked = re.findall(r"// @ts-expect-error.*\n\s*(\"[^\"]*\"|\w+): ", code)
    assert marked == ['"with space"']
    assert "@ts-expect-error" not in code_samples(SIMPLE, BASE_URL).typescript


def test_curl_posts_to_the_server_with_the_key_from_the_environment() -> None:
    code = code_samples(SIMPLE, "http://example.test:8080/base path").curl
    words = shlex.split(code.split("<<'JSON'")[0].replace("\\\n", " "))
    assert words[:2] == ["curl", "http://example.test:8080/base path/v1/messages"]
    assert "x-api-key: $ANTHROPIC_API_KEY" in words and "--data-binary" in words


@pytest.mark.parametrize("text", ["", "plain", 'q"uote', "back\\slash", "new\nline\r\t",
                                  "\x00\x1f\x7f", "\u2028\u2029", "é 中文 🌦️", "\ud800", "\U0001f600"])
def test_python_strings_read_back_as_the_same_text(text: str) -> None:
    literal = python_string(text)
    assert literal.startswith('"') and ast.literal_eval(literal) == text
    assert "\n" not in literal


def test_long_values_break_over_lines_and_short_ones_stay_on_one() -> None:
    assert python_literal({"role": "user", "content": "hi"}) == '{"role": "user", "content": "hi"}'
    long = python_literal({"content": "x" * 100, "role": "user"})
    assert long.splitlines() == ["{", f'    "content": "{"x" * 100}",', '    "role": "user",', "}"]
    assert ast.literal_eval(long) == {"content": "x" * 100, "role": "user"}
