"""A long mixed workload against one server, reported per time window (issue 14).

Three kinds of clients run at once for --minutes, as a shared server sees them:
- chat: --chat workers, each sending one-turn requests (bench/warm_prompts.txt and
  loadgen's prompts, 128 tokens, temperature 0.7) back to back;
- agentic: --agents conversations of 6 turns on bench/agentic_workload.py's ~1,500-token
  system prompt, each turn resending the history with Claude Code's cache breakpoints; a
  finished conversation is followed by a new one;
- Claude Code: one client sending Claude Code 2.1.330's captured first request (~12,000
  tokens: system prompt, tools, environment) as a new session each time, asking one of a
  few questions, 64 tokens.

Every --window-minutes it reports output tok/s (tokens of requests finished in the window),
time to first token p50/p95 per kind, the gaps between text deltas (ITL) p50/p95, requests
and failures, and the server's resident memory (VmRSS, sampled every 5 s). A cache that
grows without bound, or a step that slows as it fills, shows as drift from the first
window to the last. With --warmup-minutes the same clients run that long first (reported
as window 0, left out of the drift): a server in real use is warm, and a cold start's first
12,000-token prefill would otherwise make the first window no measure of drift.

    .venv/bin/antiphon serve --api-key k &
    .venv/bin/python bench/mixed_workload.py --api-key k --server-pid $! --minutes 30 \
        --warmup-minutes 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import agentic_workload  # noqa: E402
import claude_code_prompts  # noqa: E402
from loadgen import DEFAULT_PROMPTS, SSEDecoder  # noqa: E402
from loadgen_stats import percentile  # noqa: E402
from rss_sampler import read_proc_status  # noqa: E402

QUESTIONS = [
    "What does notes.txt say?",
    "Which files in this folder are the largest?",
    "Is there a README here, and what is it about?",
    "List the Python files in this folder.",
]


@dataclass
class Sample:
    kind: str
    started: float
    finished: float = 0.0
    ttft: float | None = None
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (when, seconds since last)
    output_tokens: int = 0
    ok: bool = False
    text: str = ""


async def stream(client: httpx.AsyncClient, kind: str, body: dict) -> Sample:
    sample = Sample(kind, time.monotonic())
    last: float | None = None
    try:
        async with client.stream("POST", "/v1/messages", json={**body, "stream": True}) as response:
            if response.status_code != 200:
                await response.aread()
                return sample
            decoder = SSEDecoder()
            async for line in response.aiter_lines():
                event = decoder.feed(line)
                if event is None:
                    continue
                name, data = event
                now = time.monotonic()
                if name == "content_block_delta" and data["delta"].get("type") == "text_delta":
                    if sample.ttft is None:
                        sample.ttft = now - sample.started
                    elif last is not None:
                        sample.gaps.append((now, now - last))
                    last = now
                    sample.text += data["delta"]["text"]
                elif name == "message_delta":
                    sample.output_tokens = data.get("usage", {}).get("output_tokens", 0)
                elif name == "message_stop":
                    sample.ok = True
    except (httpx.HTTPError, ValueError):
        pass
    sample.finished = time.monotonic()
    return sample


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.began = time.monotonic()
        self.measured_from = self.began + args.warmup_minutes * 60
        self.deadline = self.measured_from + args.minutes * 60
        self.samples: list[Sample] = []
        self.rss: list[tuple[float, float]] = []  # (when, MiB)

    @property
    def running(self) -> bool:
        return time.monotonic() < self.deadline

    async def chat(self, client: httpx.AsyncClient, worker: int) -> None:
        prompts = Path(__file__).with_name("warm_prompts.txt").read_text().splitlines()
        prompts = [p for p in prompts if p] + DEFAULT_PROMPTS
        index = worker
        while self.running:
            body = {"model": self.args.model, "max_tokens": 128, "temperature": 0.7,
                    "messages": [{"role": "user", "content": prompts[index % len(prompts)]}]}
            self.samples.append(await stream(client, "chat", body))
            index += self.args.chat

    async def agent(self, client: httpx.AsyncClient, worker: int) -> None:
        conversation = worker
        while self.running:
            answers: list[str] = []
            for _turn in range(6):
                if not self.running:
                    return
                messages = agentic_workload.turn_messages(conversation, answers)
                system, marked = agentic_workload.with_cache_breakpoints(messages)
                body = {"model": self.args.model, "max_tokens": 128, "temperature": 0.7,
                        "system": system, "messages": marked}
                sample = await stream(client, "agentic", body)
                self.samples.append(sample)
                if not sample.ok:
                    break
                answers.append(sample.text)
            conversation += self.args.agents

    async def claude_code(self, client: httpx.AsyncClient) -> None:
        first = claude_code_prompts.fixture_body("main_turn")
        session = 0
        while self.running:
            session += 1
            body = claude_code_prompts.as_another_session(
                first, session, QUESTIONS[session % len(QUESTIONS)]
            )
            body = {**body, "max_tokens": 64, "model": self.args.model}
            self.samples.append(await stream(client, "claude-code", body))

    async def sample_memory(self) -> None:
        while self.running:
            rss = read_proc_status(self.args.server_pid).get("VmRSS") if self.args.server_pid else None
            if rss is not None:
                self.rss.append((time.monotonic(), rss / 1024))
            await asyncio.sleep(5)

    async def go(self) -> None:
        headers = {"x-api-key": self.args.api_key, "anthropic-version": "2023-06-01"}
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=self.args.url, headers=headers, timeout=900,
                                     limits=limits) as client:
            tasks = [self.chat(client, k) for k in range(self.args.chat)]
            tasks += [self.agent(client, k) for k in range(self.args.agents)]
            if self.args.claude_code:
                tasks.append(self.claude_code(client))
            await asyncio.gather(self.sample_memory(), *tasks)


def _percentile(values: list[float], q: float) -> float | None:
    return percentile(values, q) if values else None


def windows(run: Run) -> list[dict]:
    """Window 0 is the warm-up (when there is one); windows 1… are measured."""
    size = run.args.window_minutes * 60
    count = max(1, int(round(run.args.minutes * 60 / size)))
    bounds = [(run.measured_from + k * size, run.measured_from + (k + 1) * size)
              for k in range(count)]
    if run.measured_from > run.began:
        bounds.insert(0, (run.began, run.measured_from))
    first = 0 if run.measured_from > run.began else 1
    rows = []
    for index, (low, high) in enumerate(bounds, start=first):
        done = [s for s in run.samples if low <= s.finished < high]
        gaps = [gap for s in run.samples for when, gap in s.gaps if low <= when < high]
        row: dict = {
            "window": index,
            "requests": sum(s.ok for s in done),
            "failed": sum(not s.ok for s in done),
            "output_tps": sum(s.output_tokens for s in done if s.ok) / (high - low),
            "itl_p50_ms": _ms(_percentile(gaps, 50)),
            "itl_p95_ms": _ms(_percentile(gaps, 95)),
            "rss_max_mib": max((mib for when, mib in run.rss if low <= when < high), default=None),
        }
        for kind in ("chat", "agentic", "claude-code"):
            ttfts = [s.ttft for s in done if s.kind == kind and s.ok and s.ttft is not None]
            row[f"{kind}_ttft_p50_ms"] = _ms(statistics.median(ttfts) if ttfts else None)
            row[f"{kind}_ttft_p95_ms"] = _ms(_percentile(ttfts, 95))
        rows.append(row)
    return rows


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def table(rows: list[dict]) -> str:
    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    lines = [
        "| window | requests (failed) | output tok/s | ITL p50 / p95 ms | TTFT p50 chat / agentic "
        "/ Claude Code ms | RSS max MiB |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['window']} | {row['requests']} ({row['failed']}) | {row['output_tps']:.1f} "
            f"| {fmt(row['itl_p50_ms'])} / {fmt(row['itl_p95_ms'])} "
            f"| {fmt(row['chat_ttft_p50_ms'])} / {fmt(row['agentic_ttft_p50_ms'])} / "
            f"{fmt(row['claude-code_ttft_p50_ms'])} | {fmt(row['rss_max_mib'])} |"
        )
    measured = [row for row in rows if row["window"] >= 1]
    if len(measured) > 1 and measured[0]["output_tps"]:
        first, last = measured[0], measured[-1]
        lines.append(f"\nlast window / first measured window: output tok/s "
                     f"{last['output_tps'] / first['output_tps']:.2f}×, ITL p50 "
                     f"{(last['itl_p50_ms'] or 0) / (first['itl_p50_ms'] or 1):.2f}×")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--api-key", default="")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--window-minutes", type=float, default=5)
    parser.add_argument("--warmup-minutes", type=float, default=0,
                        help="run the same clients this long first (window 0, not measured)")
    parser.add_argument("--chat", type=int, default=4, help="chat workers")
    parser.add_argument("--agents", type=int, default=2, help="agentic conversations at once")
    parser.add_argument("--claude-code", type=int, default=1, help="1: a Claude Code client")
    parser.add_argument("--server-pid", type=int, default=None, help="for resident memory")
    parser.add_argument("--json", default=None, metavar="OUT.json")
    args = parser.parse_args()
    run = Run(args)
    asyncio.run(run.go())
    rows = windows(run)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"params": vars(args), "windows": rows}, indent=2))


if __name__ == "__main__":
    main()
