"""A batch survives `kill -9`: the server is killed in the middle of a 200-request batch and
restarted on the same store; the batch resumes and ends with exactly 200 results, each
custom_id once. On PostgreSQL the killed replica's leases lapse and are taken over."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.conftest import stop_server
from tests.e2e.platform import MODEL, start_platform_server
from tests.e2e.test_batches import wait_until_ended
from tests.services import database_url

REQUESTS = 200
LEASE_SECONDS = "3"  # how soon a dead replica's requests run elsewhere


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_batch_killed_midway_resumes_and_answers_every_request_once(backend: str, tmp_path: Path) -> None:
    args = ["--batch-lease-seconds", LEASE_SECONDS]
    with database_url(backend) as url:
        process, server = start_platform_server(tmp_path, f"kill-{backend}", url, args)
        try:
            client = server.client(server.server.api_key)
            batch = client.messages.batches.create(requests=[  # type: ignore[misc]
                {"custom_id": f"item-{i}", "params": {
                    "model": MODEL, "max_tokens": 6, "temperature": 0.0,
                    "messages": [{"role": "user", "content": f"Write the number {i} in words"}]}}
                for i in range(REQUESTS)])
            deadline = time.monotonic() + 120
            while True:  # kill it once a good share is answered, well before the end
                response = client.messages.batches.with_raw_response.retrieve(batch.id)
                answered = int(response.headers["antiphon-requests-answered"])
                if answered >= 30:
                    break
                assert time.monotonic() < deadline, "the batch made no progress"
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert answered < REQUESTS

        process, server = start_platform_server(tmp_path, f"kill-{backend}-2", url, args, data_dir=server.data_dir)
        try:
            client = server.client(server.server.api_key)
            ended = wait_until_ended(client, batch.id, timeout=300)
            assert ended.request_counts.succeeded == REQUESTS
            custom_ids = [line.custom_id for line in client.messages.batches.results(batch.id)]
            assert len(custom_ids) == REQUESTS and set(custom_ids) == {f"item-{i}" for i in range(REQUESTS)}
        finally:
            stop_server(process)
