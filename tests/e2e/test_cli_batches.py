"""`antiphon batches create FILE.jsonl` and `antiphon batches list` against a real server:
the batch is submitted, followed to its end, and its results are written to a file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import stop_server
from tests.e2e.platform import MODEL, start_platform_server


def batches(server_url: str, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "antiphon", "batches", *args, "--base-url", server_url, "--api-key", key]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_a_jsonl_file_becomes_a_batch_and_its_results_a_file(tmp_path: Path) -> None:
    requests = tmp_path / "questions.jsonl"
    lines = [json.dumps({"custom_id": f"q{i}", "params": {
        "model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": f"Say {i}"}]}}) for i in range(5)]
    requests.write_text("\n".join(lines) + "\n\n")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(lines[0] + "\n{not json\n")
    process, server = start_platform_server(tmp_path, "cli-batches", None)
    try:
        key = server.server.api_key
        created = batches(server.url, key, "create", str(requests), "--poll-seconds", "0.2")
        assert created.returncode == 0, created.stderr
        assert "5 succeeded" in created.stdout and "questions.results.jsonl" in created.stdout
        results = [json.loads(line) for line in (tmp_path / "questions.results.jsonl").read_text().splitlines()]
        assert sorted(r["custom_id"] for r in results) == [f"q{i}" for i in range(5)]
        assert all(r["result"]["type"] == "succeeded" for r in results)
        batch_id = created.stderr.split("submitted ")[1].split()[0]
        listed = batches(server.url, key, "list")
        assert listed.returncode == 0 and batch_id in listed.stdout and "ended" in listed.stdout

        bad_line = batches(server.url, key, "create", str(broken))
        assert bad_line.returncode == 2 and "broken.jsonl:2" in bad_line.stderr
        refused = batches(server.url, "sk-wrong", "list")
        assert refused.returncode == 1 and "401" in refused.stderr
    finally:
        stop_server(process)
