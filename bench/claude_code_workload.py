"""Claude Code's cost on this engine, side by side with llama.cpp's own llama-server.

Each round starts each server in turn on a fresh process (alternating which goes first,
since this VM's speed drifts), warms it with chat traffic as a server in real use has seen,
then sends Claude Code's requests (bench/claude_code_prompts.py) one after another:

1. its default first request (~12,000 tokens: the whole prefill);
2. the same prompt with a short assistant prefix, answered greedily: decoding at that depth;
3. its second turn (a Read call and its result appended);
4. a second session's first request, same folder, same question;
5. a second session with another question (Claude Code's environment message follows the
   question, so ~2,500 tokens after it are new).

Both servers run the defaults a new user gets for this model: a 32,768-token window reached
with YaRN ×4 from the 8,192 it was trained on, four sequences sharing one KV pool, all cores.
antiphon gets Claude Code's JSON; llama-server gets the same prompt token ids on /completion.

    bash bench/build_llama_server.sh
    .venv/bin/python bench/claude_code_workload.py --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from claude_code_prompts import Renderer, Step, workload  # noqa: E402
from loadgen import DEFAULT_PROMPTS  # noqa: E402

KEY = "bench-key"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LLAMA_SERVER = Path.home() / ".cache/antiphon-bench/llama-server/bin/llama-server"


@dataclass
class Measured:
    server: str
    round: int
    step: str
    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens taken from the server's cache, not prefilled
    output_tokens: int = 0
    ttft_s: float | None = None
    decode_tok_s: float | None = None
    error: str | None = None
    token_times: list[float] = field(default_factory=list, repr=False)

    def finish(self) -> None:
        times = self.token_times
        if times:
            self.ttft_s = times[0]
        if len(times) > 1 and times[-1] > times[0]:
            self.decode_tok_s = (len(times) - 1) / (times[-1] - times[0])


def start(name: str, args: argparse.Namespace, gguf: Path, data: Path) -> subprocess.Popen:
    port, threads = str(args.port), str(args.threads)
    if name == "antiphon":
        command = [sys.executable, "-m", "antiphon", "serve", "--port", port, "--api-key", KEY,
                   "--threads", threads, *args.antiphon_flags.split()]
        env = {**os.environ, "ANTIPHON_DATA_DIR": str(data / "antiphon-data")}
    else:  # llama-server with the same window, YaRN and pool as antiphon's defaults
        command = [str(args.llama_server), "-m", str(gguf), "-c", "32768", "--rope-scaling",
                   "yarn", "--rope-scale", "4", "--yarn-orig-ctx", "8192", "-t", threads,
                   "--port", port, "--host", "127.0.0.1", "--api-key", KEY]
        env = dict(os.environ)
    log = (data / f"{name}.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited; see {data / (name + '.log')}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit(f"{name} did not become healthy")


async def warm_up(client: httpx.AsyncClient, requests: int) -> None:
    """Chat traffic first, at four at a time: a server in use has a full cache."""
    queue = list(range(requests))

    async def worker() -> None:
        while queue:
            index = queue.pop()
            body = {"model": "smollm2-135m-instruct", "max_tokens": 64, "temperature": 0.7,
                    "messages": [{"role": "user", "content": DEFAULT_PROMPTS[index % 16]
                                  + f" (variant {index})"}]}
            response = await client.post("/v1/messages", json=body)
            response.raise_for_status()

    await asyncio.gather(*(worker() for _ in range(4)))


async def streamed(
    client: httpx.AsyncClient, path: str, body: dict
) -> AsyncIterator[tuple[float, dict]]:
    """Each SSE `data:` object of a streamed POST, with the seconds since it was sent."""
    started = time.perf_counter()
    async with client.stream("POST", path, json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                yield time.perf_counter() - started, json.loads(line[5:])


async def ask_antiphon(client: httpx.AsyncClient, step: Step, measured: Measured) -> None:
    body = {**step.body, "max_tokens": step.max_tokens, "temperature": 0, "stream": True}
    reused_before = await reused_prompt_tokens(client)
    async for elapsed, event in streamed(client, "/v1/messages", body):
        if event["type"] == "content_block_delta":
            measured.token_times.append(elapsed)
        elif event["type"] == "message_delta":
            usage = event["usage"]
            measured.output_tokens = usage["output_tokens"]
            measured.prompt_tokens = (usage["input_tokens"] + usage["cache_read_input_tokens"]
                                      + usage["cache_creation_input_tokens"])
        elif event["type"] == "error":
            measured.error = event["error"]["message"]
    # Reuse, not prompt caching's billing (which counts only up to cache_control marks).
    measured.reused_tokens = await reused_prompt_tokens(client) - reused_before


async def reused_prompt_tokens(client: httpx.AsyncClient) -> int:
    health = (await client.get("/health")).json()
    return sum(model["cached_prompt_tokens_total"] for model in health["models"])


async def ask_llama_server(client: httpx.AsyncClient, step: Step, tokens: list[int],
                           measured: Measured) -> None:
    body = {"prompt": tokens, "n_predict": step.max_tokens, "temperature": 0, "stream": True,
            "cache_prompt": True}
    async for elapsed, event in streamed(client, "/completion", body):
        if event.get("content"):
            measured.token_times.append(elapsed)
        if "timings" in event and event.get("stop"):
            timings = event["timings"]
            measured.output_tokens = timings["predicted_n"]
            measured.reused_tokens = timings.get("cache_n", 0)
            measured.prompt_tokens = timings["prompt_n"] + measured.reused_tokens


async def run_server(name: str, round_number: int, args: argparse.Namespace,
                     steps: list[Step], tokens: list[list[int]]) -> list[Measured]:
    base = f"http://127.0.0.1:{args.port}"
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01",
               "Authorization": f"Bearer {KEY}"}
    results: list[Measured] = []
    # A new connection per request: llama-server may close one right after a streamed
    # answer, and a request sent on it then fails before reaching the server.
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=1800, limits=no_reuse
    ) as client:
        await warm_up(client, args.warmup)
        for step, ids in zip(steps, tokens):
            measured = Measured(name, round_number, step.name)
            if name == "antiphon":
                await ask_antiphon(client, step, measured)
            else:
                await ask_llama_server(client, step, ids, measured)
            measured.finish()
            print(f"  {name:12} {step.name:32} prompt {measured.prompt_tokens:6}"
                  f" (reused {measured.reused_tokens:6})  TTFT {measured.ttft_s or 0:7.2f}s"
                  f"  {measured.output_tokens:4} tokens"
                  f"  {measured.decode_tok_s or 0:6.1f} tok/s {measured.error or ''}", flush=True)
            results.append(measured)
    return results


def table(results: list[Measured], steps: list[Step]) -> str:
    def median(server: str, step: str, attribute: str) -> float | None:
        values = [getattr(r, attribute) for r in results
                  if r.server == server and r.step == step and getattr(r, attribute) is not None]
        return statistics.median(values) if values else None

    lines = ["| request | prompt tokens | reused (antiphon / llama-server) | antiphon TTFT "
             "| llama-server TTFT | ratio | antiphon decode | llama-server decode | ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    for step in steps:
        prompt = median("antiphon", step.name, "prompt_tokens")
        reused = [median(server, step.name, "reused_tokens") for server in ("antiphon", "llama-server")]
        cells = [step.name, f"{prompt:,.0f}" if prompt else "?",
                 " / ".join(f"{value:,.0f}" if value is not None else "-" for value in reused)]
        for attribute, unit in (("ttft_s", "s"), ("decode_tok_s", " tok/s")):
            ours, theirs = median("antiphon", step.name, attribute), median("llama-server", step.name, attribute)
            cells += [f"{ours:.2f}{unit}" if ours else "-", f"{theirs:.2f}{unit}" if theirs else "-",
                      f"{ours / theirs:.2f}" if ours and theirs else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=100, help="chat requests before the steps")
    parser.add_argument("--decode-tokens", type=int, default=256)
    parser.add_argument("--ttft-tokens", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--port", type=int, default=8795)
    parser.add_argument("--servers", default="antiphon llama-server")
    parser.add_argument("--antiphon-flags", default="", help="more flags for antiphon serve")
    parser.add_argument("--llama-server", type=Path, default=DEFAULT_LLAMA_SERVER)
    args = parser.parse_args()
    renderer = Renderer()
    steps = workload(args.decode_tokens, args.ttft_tokens)
    tokens = [renderer.tokens(step.body) for step in steps]
    servers = args.servers.split()
    results: list[Measured] = []
    run = ROOT / "bench" / "results" / f"claude-code-{time.strftime('%Y%m%d-%H%M%S')}"
    for round_number in range(1, args.rounds + 1):
        order = servers if round_number % 2 else list(reversed(servers))
        for name in order:
            print(f"round {round_number}: {name}", flush=True)
            scratch = run / f"round-{round_number}"  # the server's log and data
            scratch.mkdir(parents=True, exist_ok=True)
            process = start(name, args, renderer.gguf, scratch)
            try:
                results += asyncio.run(run_server(name, round_number, args, steps, tokens))
            finally:
                process.terminate()
                process.wait(timeout=30)
    (run / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    print(f"\n{table(results, steps)}\n\nresults and server logs: {run}")


if __name__ == "__main__":
    main()
