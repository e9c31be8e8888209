"""`antiphon keys`, `antiphon workspaces` and `antiphon usage` on the store a server uses."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import anthropic
import pytest

from tests.conftest import stop_server
from tests.e2e.platform import ask, start_platform_server


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "antiphon", *args, "--data-dir", str(data_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env={
        "COLUMNS": "250", "PATH": "/usr/bin:/bin"})


def test_keys_and_workspaces_made_in_the_terminal_serve_and_revoke(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    made = cli(data_dir, "workspaces", "create", "terminal team")
    assert made.returncode == 0, made.stderr
    workspace_id = made.stdout.strip()
    assert workspace_id.startswith("wrkspc_")
    created = cli(data_dir, "keys", "create", "terminal key", "--workspace", workspace_id)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    key_id = created.stderr.split()[1]
    assert secret.startswith("sk-antiphon-api01-") and key_id.startswith("apikey_")

    listed = cli(data_dir, "keys", "list", "--workspace", workspace_id)
    assert key_id in listed.stdout and "terminal key" in listed.stdout and secret not in listed.stdout
    assert "terminal team" in cli(data_dir, "workspaces", "list").stdout

    process, server = start_platform_server(tmp_path, "cli", None, data_dir=data_dir)
    try:
        client = server.client(secret)
        served = ask(client)
        deadline = time.monotonic() + 10  # usage is written every half second
        while True:
            usage = cli(data_dir, "usage", "--by", "api_key_id")
            assert usage.returncode == 0, usage.stderr
            rows = [line for line in usage.stdout.splitlines() if key_id in line]
            if rows or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        (row,) = rows
        assert str(served.usage.output_tokens) in row.split("│")[-3]

        revoked = cli(data_dir, "keys", "revoke", key_id)
        assert revoked.returncode == 0 and "revoked" in revoked.stdout
        deadline = time.monotonic() + 10  # the server remembers a key for 5 seconds
        while time.monotonic() < deadline:
            try:
                ask(client)
            except anthropic.AuthenticationError:
                break
            time.sleep(0.5)
        else:
            pytest.fail("a revoked key still works after 10 s")
        archived = cli(data_dir, "workspaces", "archive", workspace_id)
        assert archived.returncode == 0 and workspace_id in archived.stdout

        replacement = cli(data_dir, "keys", "create", "replacement admin", "--admin")
        admin_secret = replacement.stdout.strip()
        assert replacement.returncode == 0 and admin_secret.startswith("sk-antiphon-admin01-")
        with server.raw(admin_secret) as admin:
            assert admin.get("/v1/organizations/me").status_code == 200
            assert admin.get("/v1/models").status_code == 403
    finally:
        stop_server(process)


def test_files_uploaded_in_the_terminal_are_served_and_removed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    document = tmp_path / "report.txt"
    document.write_bytes(b"%PDF-1.4 not really, but the bytes say PDF")
    uploaded = cli(data_dir, "files", "upload", str(document))
    assert uploaded.returncode == 0, uploaded.stderr
    file_id = uploaded.stdout.strip()
    assert file_id.startswith("file_")
    listed = cli(data_dir, "files", "list")
    assert file_id in listed.stdout and "application/pdf" in listed.stdout
    process, server = start_platform_server(tmp_path, "cli-files", None, data_dir=data_dir)
    try:
        with server.raw(server.server.api_key) as client:  # a key of the default workspace
            assert client.get(f"/v1/files/{file_id}/content").content == document.read_bytes()
            assert cli(data_dir, "files", "rm", file_id).stdout.strip() == f"deleted {file_id}"
            assert client.get(f"/v1/files/{file_id}").status_code == 404
    finally:
        stop_server(process)
    missing = cli(data_dir, "files", "rm", file_id)
    assert missing.returncode == 1 and file_id in missing.stderr


def test_the_cli_explains_bad_input(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    unknown = cli(data_dir, "keys", "revoke", "apikey_nope")
    assert unknown.returncode == 1 and "apikey_nope" in unknown.stderr
    wrong_workspace = cli(data_dir, "keys", "create", "x", "--workspace", "wrkspc_nope")
    assert wrong_workspace.returncode == 1 and "wrkspc_nope" in wrong_workspace.stderr
    default_archive = cli(data_dir, "workspaces", "archive", cli_default_workspace(data_dir))
    assert default_archive.returncode == 1 and "default" in default_archive.stderr
    bad_by = cli(data_dir, "usage", "--by", "colour")
    assert bad_by.returncode == 2 and "colour" in bad_by.stderr
    bad_url = subprocess.run([sys.executable, "-m", "antiphon", "keys", "list", "--database-url", "mysql://x/y"],
                             capture_output=True, text=True, timeout=60)
    assert bad_url.returncode == 2 and "sqlite and postgresql" in bad_url.stderr


def cli_default_workspace(data_dir: Path) -> str:
    listed = cli(data_dir, "workspaces", "list").stdout
    (line,) = [line for line in listed.splitlines() if "(default)" in line]
    return next(word for word in line.replace("│", " ").split() if word.startswith("wrkspc_"))
