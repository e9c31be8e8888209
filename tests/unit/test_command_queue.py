"""The engine's inbox closes without losing anyone: every submission raced against `close`
from other threads is either returned by `close` (the engine answers it) or refused to its
sender (who answers it); none is left in the queue for a thread that is gone."""

from __future__ import annotations

import asyncio
import threading

from antiphon.engine.base import GenerationRequest
from antiphon.engine.command_queue import Abort, CommandQueue, Stop
from antiphon.engine.llamacpp_sequence import Submission


def _submission(loop: asyncio.AbstractEventLoop, index: int) -> Submission:
    request = GenerationRequest(request_id=f"req_{index}", prompt_tokens=(1, 2), max_new_tokens=4)
    return Submission(request, loop, asyncio.Queue())


def test_commands_come_out_in_order_and_none_when_empty() -> None:
    loop = asyncio.new_event_loop()
    commands = CommandQueue()
    first = _submission(loop, 0)
    assert commands.submit(first)
    commands.put(Abort("req_0"))
    commands.put(Stop())
    assert commands.get(block=False) is first
    assert commands.get(block=False) == Abort("req_0")
    assert isinstance(commands.get(block=False), Stop)
    assert commands.get(block=False) is None
    loop.close()


def _race(loop: asyncio.AbstractEventLoop) -> tuple[list[Submission], list[Submission], list[Submission]]:
    """Four threads submit while this one closes: (sent, returned by close, refused)."""
    commands = CommandQueue()
    refused: list[Submission] = []
    sent: list[Submission] = []
    start = threading.Barrier(5)

    def send(offset: int) -> None:
        start.wait()
        for index in range(offset, offset + 200):
            submission = _submission(loop, index)
            sent.append(submission)
            if not commands.submit(submission):
                refused.append(submission)

    senders = [threading.Thread(target=send, args=(n * 1000,)) for n in range(4)]
    for sender in senders:
        sender.start()
    start.wait()
    left = commands.close()
    for sender in senders:
        sender.join()
    assert commands.get(block=False) is None  # nothing was left behind the close
    return sent, left, refused


def test_no_submission_is_lost_when_close_races_with_senders() -> None:
    loop = asyncio.new_event_loop()
    for _ in range(20):
        sent, left, refused = _race(loop)
        assert {id(s) for s in left} | {id(s) for s in refused} == {id(s) for s in sent}
        assert not {id(s) for s in left} & {id(s) for s in refused}
    loop.close()
