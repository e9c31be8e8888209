"""The Workbench's "Get code": one Messages request as Python, TypeScript and curl.

Pure functions of the request (the JSON object the Workbench sends, without `stream`) and
the server's base URL. Each program sends exactly that request: every value is written as a
literal of its language that reads back to the same JSON value (tests/unit/
test_workbench_code.py parses the Python and the TypeScript back and compares). The SDKs
accept only the parameters they know as arguments, so Python passes any other in
`extra_body` and TypeScript marks them for its type checker; the server receives one body
either way.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

from antiphon.http.versions import NEWEST_VERSION

# `client.messages.create`'s keyword parameters in the pinned `anthropic` SDK (2.14), and the
# body fields `MessageCreateParams` of `@anthropic-ai/sdk` (0.120) types.
PYTHON_SDK_PARAMS = frozenset({
    "max_tokens", "messages", "model", "cache_control", "container", "diagnostics",
    "inference_geo", "metadata", "output_config", "service_tier", "speed", "stop_sequences",
    "stream", "system", "thinking", "tool_choice", "tools", "user_profile_id", "workspace_id",
})
TYPESCRIPT_SDK_PARAMS = frozenset({
    "max_tokens", "messages", "model", "cache_control", "container", "inference_geo",
    "metadata", "output_config", "service_tier", "stop_sequences", "stream", "system",
    "temperature", "thinking", "tool_choice", "tools", "top_k", "top_p", "user_profile_id",
})
_LINE = 88  # a literal that fits on one line within this width is written on one line
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_SURROGATE = re.compile("[\ud800-\udfff]")
_PY_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True)
class CodeSamples:
    python: str
    typescript: str
    curl: str


def code_samples(request: dict[str, Any], base_url: str) -> CodeSamples:
    return CodeSamples(python_code(request, base_url), typescript_code(request, base_url),
                       curl_code(request, base_url))


def python_string(text: str) -> str:
    """A double-quoted Python literal of `text`: printable characters as they are, the rest
    escaped (so a lone surrogate or a line separator survives the round trip)."""
    out = []
    for char in text:
        if char in _PY_ESCAPES:
            out.append(_PY_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def python_literal(value: Any, indent: int = 0) -> str:
    """A JSON value (dict, list, str, int, float, bool, None) as a Python expression."""
    if isinstance(value, str):
        return python_string(value)
    if value is None or isinstance(value, bool | int | float):
        return repr(value)  # JSON parsing never yields NaN or infinities here (callers refuse them)
    if isinstance(value, dict):
        items = [f"{python_string(key)}: {python_literal(item, indent + 4)}" for key, item in value.items()]
        return _container("{", items, "}", indent)
    if isinstance(value, list):
        return _container("[", [python_literal(item, indent + 4) for item in value], "]", indent)
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def json_string(text: str) -> str:
    """A JSON (and JavaScript) string literal, readable: non-ASCII kept, lone surrogates
    escaped (they cannot be written as UTF-8)."""
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", json.dumps(text, ensure_ascii=False))


def typescript_literal(value: Any, indent: int = 0) -> str:
    """A JSON value as a TypeScript expression: JSON, with keys unquoted where they may be."""
    if isinstance(value, str):
        return json_string(value)
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, dict):
        items = [f"{_ts_key(key)}: {typescript_literal(item, indent + 2)}" for key, item in value.items()]
        return _container("{", items, "}", indent, step=2, spaced=True)
    if isinstance(value, list):
        return _container("[", [typescript_literal(item, indent + 2) for item in value], "]", indent, step=2)
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _ts_key(key: str) -> str:
    return key if _IDENTIFIER.fullmatch(key) else json_string(key)


def _container(
    opening: str, items: list[str], closing: str, indent: int, step: int = 4, spaced: bool = False
) -> str:
    if not items:
        return opening + closing
    pad = " " if spaced else ""
    flat = opening + pad + ", ".join(items) + pad + closing
    if "\n" not in flat and indent + len(flat) <= _LINE:
        return flat
    inner = " " * (indent + step)
    return opening + "\n" + "".join(f"{inner}{item},\n" for item in items) + " " * indent + closing


def python_code(request: dict[str, Any], base_url: str) -> str:
    arguments = [f"    {name}={python_literal(value, 4)}," for name, value in request.items()
                 if name in PYTHON_SDK_PARAMS]
    extra = {name: value for name, value in request.items() if name not in PYTHON_SDK_PARAMS}
    if extra:
        arguments.append("    # Parameters this SDK has no argument for, sent in the body as they are:")
        arguments.append(f"    extra_body={python_literal(extra, 4)},")
    return "\n".join([
        "import os", "", "import anthropic", "",
        "client = anthropic.Anthropic(",
        f"    base_url={python_string(base_url)},",
        '    api_key=os.environ["ANTHROPIC_API_KEY"],',
        ")", "",
        "message = client.messages.create(", *arguments, ")",
        "print(message.content)", "",
    ])


def typescript_code(request: dict[str, Any], base_url: str) -> str:
    lines = []
    for name, value in request.items():
        if name not in TYPESCRIPT_SDK_PARAMS:
            lines.append("  // @ts-expect-error: antiphon accepts it; the SDK's types do not list it")
        lines.append(f"  {_ts_key(name)}: {typescript_literal(value, 2)},")
    return "\n".join([
        'import Anthropic from "@anthropic-ai/sdk";', "",
        "const client = new Anthropic({",
        f"  baseURL: {json_string(base_url)},",
        '  apiKey: process.env["ANTHROPIC_API_KEY"],',
        "});", "",
        "const message = await client.messages.create({", *lines, "});",
        "console.log(message.content);", "",
    ])


def curl_code(request: dict[str, Any], base_url: str) -> str:
    # The body goes through a quoted here-document: the shell expands nothing in it, and no
    # line of indented JSON can be the bare word that ends it.
    body = _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}",
                          json.dumps(request, indent=2, ensure_ascii=False))
    return "\n".join([
        f"curl {shlex.quote(base_url + '/v1/messages')} \\",
        '  --header "x-api-key: $ANTHROPIC_API_KEY" \\',
        f'  --header "anthropic-version: {NEWEST_VERSION}" \\',
        '  --header "content-type: application/json" \\',
        "  --data-binary @- <<'JSON'",
        body, "JSON", "",
    ])
