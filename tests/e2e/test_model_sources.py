"""Model sources and start-up, as a user meets them: real `antiphon` processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import anthropic
import httpx

from antiphon.engine.model_source import embedded_model_path
from tests.conftest import start_server, stop_server

REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hugging_face_cache(root: Path) -> Path:
    """The standard HF cache layout holding the shipped GGUF, as a download would leave it."""
    repo = root / f"models--{REPO.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (snapshot / FILENAME).symlink_to(embedded_model_path())
    return root


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "antiphon", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_a_model_from_the_hugging_face_cache_serves(tmp_path: Path) -> None:
    cache = hugging_face_cache(tmp_path / "hf")
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    args = ["--model", f"smol-hf=hf:{REPO}/{FILENAME}", "--ctx", "1024", "--parallel", "1"]
    process, server = start_server(tmp_path, "hf", args, "smol-hf", env)
    try:
        client = anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)
        assert [model.id for model in client.models.list()] == ["smol-hf"]
        message = client.messages.create(
            model="smol-hf", max_tokens=8, messages=[{"role": "user", "content": "Hi"}],
            extra_body={"temperature": 0},
        )
        assert message.content and message.usage.output_tokens > 0
    finally:
        stop_server(process)


def test_a_file_missing_from_the_offline_cache_is_a_clear_start_up_error(tmp_path: Path) -> None:
    env = {"HF_HUB_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    result = run_cli("serve", "--model", f"hf:{REPO}/missing.gguf", env=env)
    assert result.returncode == 2
    assert "not in the local Hugging Face cache" in result.stderr


def test_bad_model_specs_and_settings_fail_before_loading(tmp_path: Path) -> None:
    missing = run_cli("serve", "--model", str(tmp_path / "absent.gguf"))
    assert missing.returncode == 2 and "model file not found" in missing.stderr
    malformed = run_cli("serve", "--model", "hf:only-owner.gguf")
    assert malformed.returncode == 2 and "expected hf:OWNER/REPO/FILE.gguf" in malformed.stderr
    settings = run_cli("serve", env={"ANTIPHON_PARALLEL": "zero"})
    assert settings.returncode == 2 and "parallel" in settings.stderr
    data = {"ANTIPHON_DATA_DIR": str(tmp_path / "data")}
    no_redis = run_cli("serve", "--redis-url", "redis://127.0.0.1:1/0", env=data)
    assert no_redis.returncode == 2 and "Redis for rate limits is not reachable" in no_redis.stderr
    assert "loaded smollm2" not in no_redis.stderr  # refused before the model was loaded
    for flag, value, message in (
        ("--database-url", "mysql://root@127.0.0.1/test", "only sqlite and postgresql"),
        ("--database-url", "postgresql://postgres@127.0.0.1:1/none", "store cannot be used"),
        ("--prefix-cache-disk", "lots", "prefix_cache_disk: 'lots' is not a size"),
        ("--prefix-cache-ram", "plenty", "prefix_cache_ram: 'plenty' is not a size"),
        ("--split-mode", "diagonal", "split_mode"),
        ("--gpu-layers", "-2", "gpu_layers"),
    ):
        refused = run_cli("serve", flag, value, env=data)
        assert refused.returncode == 2 and message in refused.stderr, (flag, value, refused.stderr)


def test_version_and_help_list_every_setting() -> None:
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("antiphon ")
    help_text = run_cli("serve", "--help", env={"COLUMNS": "200"}).stdout
    for flag in ("--host", "--port", "--model", "--alias", "--api-key", "--ctx", "--parallel",
                 "--max-queue", "--batch-tokens", "--threads", "--strict", "--ping-interval",
                 "--log-level", "--config", "--admin-key", "--database-url", "--redis-url",
                 "--rate-limit-requests-per-minute", "--prefix-cache-disk", "--prefix-cache-ram", "--min-ctx",
                 "--max-output-tokens", "--repetition-stop", "--gpu-layers", "--split-mode",
                 "--main-gpu"):
        assert flag in help_text, flag
    assert "ANTIPHON_PARALLEL" in help_text and "default: 4" in help_text


def test_first_start_shows_an_api_key_and_an_admin_key_once(tmp_path: Path) -> None:
    args = ["--parallel", "1", "--ctx", "512"]
    process, server = start_server(tmp_path, "generated", args, "smollm2-135m-instruct", api_key=None)
    try:
        output = server.log_path.read_text()
        assert "all 31 layers on the CPU" in output  # this machine's build has no GPU backend
        # Not a terminal: the keys go to a file only its owner can read, never to the log.
        assert "sk-antiphon-" not in output and "first-start-keys.txt" in output
        written = tmp_path / "generated-data" / "first-start-keys.txt"
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
        keys = [word for word in written.read_text().split() if word.startswith("sk-antiphon-")]
        api_key = next(key for key in keys if key.startswith("sk-antiphon-api01-"))
        admin_key = next(key for key in keys if key.startswith("sk-antiphon-admin01-"))
        assert len(keys) == 2, output
        headers = {"x-api-key": api_key, "anthropic-version": "2023-06-01"}
        assert httpx.get(f"{server.base_url}/v1/models", headers=headers).status_code == 200
        assert httpx.get(f"{server.base_url}/v1/models", headers={
            **headers, "x-api-key": "sk-antiphon-guess"}).status_code == 401
        admin = {**headers, "x-api-key": admin_key}
        assert httpx.get(f"{server.base_url}/v1/organizations/me", headers=admin).status_code == 200
    finally:
        stop_server(process)
    # The same data directory again: the keys are stored (hashed), none is printed anew.
    process, again = start_server(tmp_path, "generated-again", args, "smollm2-135m-instruct", api_key=None,
                                  env={"ANTIPHON_DATA_DIR": str(tmp_path / "generated-data")})
    try:
        assert "sk-antiphon-" not in again.log_path.read_text()
        headers = {"x-api-key": api_key, "anthropic-version": "2023-06-01"}
        assert httpx.get(f"{again.base_url}/v1/models", headers=headers).status_code == 200
    finally:
        stop_server(process)


def test_a_second_architecture_serves_through_the_sdk(tmp_path: Path, gemma_path: Path) -> None:
    """Gemma 3 270M: another vocabulary, BOS from the tokenizer, no chat template in the file
    (so the ChatML fallback renders it, as llama.cpp's server would)."""
    args = ["--model", f"gemma-3-270m={gemma_path}", "--ctx", "1024", "--parallel", "2"]
    process, server = start_server(tmp_path, "gemma", args, "gemma-3-270m")
    try:
        client = anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key, max_retries=0)
        (model,) = client.models.list().data
        assert model.id == "gemma-3-270m" and model.display_name == "Gemma 3 270m"
        request = {"model": "gemma-3-270m", "messages": [{"role": "user", "content": "Hello"}]}
        counted = client.messages.count_tokens(**request).input_tokens  # type: ignore[arg-type]
        with client.messages.stream(max_tokens=12, extra_body={"temperature": 0}, **request) as stream:  # type: ignore[arg-type]
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        assert final.usage.input_tokens == counted
        assert final.usage.output_tokens > 0 and final.content[0].text == text
    finally:
        stop_server(process)
