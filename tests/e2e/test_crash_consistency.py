"""`kill -9` in the middle of writing: an upload half sent, and usage being recorded. After a
restart on the same data directory nothing is half-stored: the interrupted upload is not a
file, every completed upload reads back whole, and the store opens and serves as before.
(A batch killed midway is tests/e2e/test_batch_recovery.py.)"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import stop_server
from tests.e2e.platform import MODEL, PlatformServer, start_platform_server


def _start_upload(platform: PlatformServer, size: int) -> socket.socket:
    """A multipart upload of `size` bytes declared, of which only the first MB is sent."""
    parts = urlsplit(platform.url)
    head = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="half.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n")
    connection = socket.create_connection((parts.hostname, parts.port))
    connection.sendall(
        b"POST /v1/files HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nanthropic-version: 2023-06-01\r\n"
        b"content-type: multipart/form-data; boundary=b\r\ncontent-length: %d\r\n\r\n"
        % (platform.server.api_key.encode(), len(head) + size + 8) + head + b"\x07" * (1024 * 1024)
    )
    return connection


def test_kill_9_mid_upload_and_mid_usage_leaves_nothing_half_stored(tmp_path: Path) -> None:
    process, platform = start_platform_server(tmp_path, "crash", None)
    client = platform.client(platform.server.api_key)
    kept = {client.files.upload(file=(f"k{i}.txt", f"kept {i}".encode() * 500, "text/plain")).id: i
            for i in range(3)}
    for i in range(5):  # usage the recorder may still hold when the kill comes
        client.messages.create(model=MODEL, max_tokens=4, messages=[{"role": "user", "content": f"Hi {i}"}])
    upload = _start_upload(platform, 50 * 1024 * 1024)
    deadline = time.monotonic() + 30
    tmp = platform.data_dir / "blobs" / "tmp"
    while not (tmp.exists() and any(path.stat().st_size > 0 for path in tmp.iterdir())):
        assert time.monotonic() < deadline, "the upload never reached the disk"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    upload.close()

    process, platform = start_platform_server(tmp_path, "crash-2", None, data_dir=platform.data_dir)
    try:
        client = platform.client(platform.server.api_key)
        listed = {f.id for f in client.files.list(limit=100)}
        assert listed == set(kept)  # the half upload is not a file
        for file_id, i in kept.items():
            assert client.files.download(file_id).read() == f"kept {i}".encode() * 500
        answer = client.messages.create(model=MODEL, max_tokens=4, messages=[{"role": "user", "content": "Hi"}])
        assert answer.usage.output_tokens > 0
        fresh = client.files.upload(file=("after.txt", b"after the crash", "text/plain"))
        assert client.files.download(fresh.id).read() == b"after the crash"
    finally:
        stop_server(process)
