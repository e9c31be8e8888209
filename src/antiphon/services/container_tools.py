"""The code execution tool's two halves, run in a container: bash and the file editor.

Their results are the API's result blocks: a bash command's stdout, stderr and return code,
with the files it created in the working directory stored through the Files API (their ids
come back, downloadable); the editor's view, create and str_replace results. What the model
got wrong (a missing file, text that is not there once) is a result with an error code and a
message, for the model to read, never a failed request.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from antiphon.protocol.server_tool_blocks import (
    OutputBashError,
    OutputBashOutputFile,
    OutputBashResult,
    OutputEditorCreateResult,
    OutputEditorError,
    OutputEditorReplaceResult,
    OutputEditorViewResult,
)
from antiphon.services.containers import Container
from antiphon.services.files import FilesService
from antiphon.services.sandbox import SandboxError, SandboxFileTooLarge, SandboxPathError

MAX_OUTPUT_FILES = 20  # files one command may hand back
MAX_OUTPUT_FILE_BYTES = 32 * 1024 * 1024
MAX_EDITED_FILE_BYTES = 4 * 1024 * 1024

EditorResult = OutputEditorViewResult | OutputEditorCreateResult | OutputEditorReplaceResult | OutputEditorError


async def run_bash(container: Container, command: Any, files: FilesService) -> OutputBashResult | OutputBashError:
    if not isinstance(command, str) or not command.strip():
        return OutputBashError(error_code="invalid_tool_input")
    sandbox = container.sandbox
    started = time.time()
    try:
        done = await sandbox.run(command)
    except ValueError:
        return OutputBashError(error_code="invalid_tool_input")
    except SandboxError:
        return OutputBashError(error_code="unavailable")
    if done.timed_out:
        return OutputBashError(error_code="execution_time_exceeded")
    created = [
        path for path in sandbox.files_changed_since(started)
        if path.startswith(sandbox.work_dir + "/")
    ][:MAX_OUTPUT_FILES]
    outputs: list[OutputBashOutputFile] = []
    if container.workspace_id is not None:
        for path in created:
            try:
                data = await sandbox.read_file(path, MAX_OUTPUT_FILE_BYTES)
            except SandboxFileTooLarge:
                return OutputBashError(error_code="output_file_too_large")
            except (SandboxPathError, OSError):
                continue  # removed or replaced by a link in the meantime: nothing to hand back
            stored = await files.add_bytes(container.workspace_id, PurePosixPath(path).name, data)
            outputs.append(OutputBashOutputFile(file_id=stored.id))
    return OutputBashResult(
        stdout=done.stdout, stderr=done.stderr, return_code=done.return_code, content=outputs
    )


def _failed(code: str, message: str) -> OutputEditorError:
    return OutputEditorError(error_code=code, error_message=message)


async def run_editor(container: Container, command: Mapping[str, Any]) -> EditorResult:
    path = command.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        return _failed("invalid_tool_input", "path: an absolute path in the container")
    try:
        if command.get("command") == "view":
            return await _view(container, path, command.get("view_range"))
        if command.get("command") == "create":
            return await _create(container, path, command.get("file_text"))
        if command.get("command") == "str_replace":
            return await _replace(container, path, command.get("old_str"), command.get("new_str"))
    except SandboxPathError as error:
        return _failed("invalid_tool_input", str(error))
    except SandboxFileTooLarge:
        return _failed("invalid_tool_input", f"{path} is larger than {MAX_EDITED_FILE_BYTES} bytes")
    except SandboxError:
        return _failed("unavailable", "the container is gone")
    return _failed("invalid_tool_input", "command: one of view, create, str_replace")


async def _view(container: Container, path: str, view_range: Any) -> EditorResult:
    """Read through the sandbox (skills are mounted there, not in the writable area)."""
    done = await container.sandbox.run(f"cat -- {shlex.quote(path)}")
    if done.return_code != 0:
        return _failed("file_not_found", done.stderr.strip() or f"{path}: cannot be read")
    lines = done.stdout.splitlines()
    first, last = 1, len(lines)
    if isinstance(view_range, list) and len(view_range) == 2:
        first = max(1, int(view_range[0]))
        last = len(lines) if int(view_range[1]) == -1 else min(len(lines), int(view_range[1]))
    shown = lines[first - 1 : last]
    return OutputEditorViewResult(
        content="\n".join(shown), file_type="text", num_lines=len(shown), start_line=first,
        total_lines=len(lines),
    )


async def _create(container: Container, path: str, text: Any) -> EditorResult:
    if not isinstance(text, str):
        return _failed("invalid_tool_input", "file_text: the file's content")
    sandbox = container.sandbox
    existed = (await sandbox.run(f"test -e {shlex.quote(path)}")).return_code == 0
    await sandbox.write_file(path, text.encode())
    return OutputEditorCreateResult(is_file_update=existed)


async def _replace(container: Container, path: str, old: Any, new: Any) -> EditorResult:
    if not isinstance(old, str) or not isinstance(new, str) or not old:
        return _failed("invalid_tool_input", "old_str and new_str: text to replace, and its replacement")
    sandbox = container.sandbox
    try:
        text = (await sandbox.read_file(path, MAX_EDITED_FILE_BYTES)).decode("utf-8", "replace")
    except FileNotFoundError:
        return _failed("file_not_found", f"{path} does not exist")
    found = text.count(old)
    if found != 1:
        why = "does not occur" if found == 0 else f"occurs {found} times"
        return _failed("invalid_tool_input", f"old_str {why} in {path}; it must occur exactly once")
    start = text[: text.index(old)].count("\n") + 1
    await sandbox.write_file(path, text.replace(old, new).encode())
    new_lines = new.splitlines() or [""]
    return OutputEditorReplaceResult(
        lines=new_lines, old_start=start, old_lines=len(old.splitlines() or [""]),
        new_start=start, new_lines=len(new_lines),
    )
