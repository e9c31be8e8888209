"""Load generator for any server speaking Anthropic's streamed ``POST /v1/messages`` or,
with ``--api openai``, OpenAI's streamed ``POST /v1/chat/completions``.

Depends only on httpx so it can be pointed at other servers (or run from another
machine) without installing antiphon. See ``--help`` for the flags.

Workloads: ``chat`` (default) sends independent single-turn prompts from a pool of
workers; ``agentic`` runs C multi-turn conversations sharing one long system prompt
(bench/agentic_workload.py), which is what prompt caching is for (messages API only).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import httpx

# The agentic workload lives next to this file; make it importable however loadgen is
# loaded (as a script, or by path from the unit tests).
sys.path.insert(0, str(Path(__file__).resolve().parent))
import agentic_workload  # noqa: E402
from loadgen_stats import RequestResult, Summary, percentile, summarize  # noqa: E402,F401
from loadgen_wire import (  # noqa: E402,F401 (tests and other benches use these names)
    APIS,
    MESSAGES,
    Api,
    SSEDecoder,
    apply_event,
    apply_openai_event,
    build_body,
    parse_sse,
)
from rss_sampler import RssSampler, parse_proc_status  # noqa: E402,F401 (tests use it)

# Fixed and varied so runs are comparable across servers and over time; different
# lengths/topics keep prefix caches from making every request look identical.
DEFAULT_PROMPTS: list[str] = [
    "Write a short story about a lighthouse keeper.",
    "Explain how a refrigerator works.",
    "What are the main differences between TCP and UDP?",
    "Give me a recipe for a simple vegetable soup.",
    "Summarize the causes of the French Revolution.",
    "Write a haiku about autumn rain.",
    "How do vaccines train the immune system?",
    "Describe the water cycle to a ten-year-old.",
    "What is the Pythagorean theorem and why is it true?",
    "List five tips for improving sleep quality.",
    "Write a polite email declining a meeting invitation.",
    "Explain what a hash table is and when to use one.",
    "Why is the sky blue?",
    "Compare cats and dogs as pets in a few paragraphs.",
    "Write a limerick about a forgetful robot.",
    "How does compound interest work? Give an example.",
]


async def one_request(client: httpx.AsyncClient, args: argparse.Namespace,
                      prompts: list[str], index: int) -> RequestResult:
    api = APIS[args.api]
    body = api.build_body(args, prompts[index % len(prompts)])
    return await stream_request(client, body, RequestResult(index=index), api,
                                replica_url(args, api.path))


_replica_turns = itertools.count()  # next() never awaits: safe across the workers


def replica_url(args: argparse.Namespace, path: str) -> str:
    """The path on the client's server, or, when --url lists several (replicas with no load
    balancer before them), on the next of them in turn, as a round-robin balancer sends."""
    urls = args.url.split(",")
    if len(urls) == 1:
        return path
    return urls[next(_replica_turns) % len(urls)].rstrip("/") + path


async def stream_request(client: httpx.AsyncClient, body: dict, res: RequestResult,
                         api: Api = MESSAGES, url: Optional[str] = None) -> RequestResult:
    """POST one streamed request (to api.path on the client's server unless `url` says
    where) and fill res from its events."""
    t0 = time.perf_counter()
    try:
        async with client.stream("POST", url or api.path, json=body) as resp:
            res.status = resp.status_code
            if resp.status_code != 200:
                text = (await resp.aread()).decode(errors="replace")
                try:
                    res.error = json.loads(text)["error"]["message"]
                except (ValueError, KeyError, TypeError):
                    res.error = text[:300]
                return res
            decoder, done = SSEDecoder(), False
            async for line in resp.aiter_lines():
                ev = decoder.feed(line)
                if ev and (done := api.apply_event(res, *ev, time.perf_counter() - t0)):
                    break
            if not done and (ev := decoder.flush()):  # last event lacked its blank line
                api.apply_event(res, *ev, time.perf_counter() - t0)
            if not res.ok and res.error is None:
                res.error = f"stream ended before {api.last_event}"
    except (httpx.HTTPError, ValueError) as exc:  # ValueError: malformed JSON in data:
        res.ok, res.error = False, f"{type(exc).__name__}: {exc}"
    return res


def load_prompts(path: Optional[str]) -> list[str]:
    if not path:
        return DEFAULT_PROMPTS
    prompts = [ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not prompts:
        raise SystemExit(f"no prompts in {path}")
    return prompts


# --- workloads ----------------------------------------------------------------------

async def run_chat(client: httpx.AsyncClient, args: argparse.Namespace,
                   prompts: list[str]) -> list[RequestResult]:
    """args.requests independent single-turn requests from args.concurrency workers."""
    counter = itertools.count()  # safe without a lock: next() never awaits
    results: list[RequestResult] = []

    async def worker() -> None:
        while (i := next(counter)) < args.requests:
            results.append(await one_request(client, args, prompts, i))

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return results


async def run_agentic(client: httpx.AsyncClient, args: argparse.Namespace) -> list[RequestResult]:
    """args.concurrency conversations of args.turns turns; C requests in flight at a time."""

    async def send(conversation: int, turn: int, messages: list[dict]) -> RequestResult:
        system, marked = agentic_workload.with_cache_breakpoints(
            messages, agentic_workload.system_prompt(conversation, args.own_system))
        body = build_body(args, marked, system=system)
        res = RequestResult(index=conversation * args.turns + turn - 1, turn=turn)
        return await stream_request(client, body, res, MESSAGES,
                                    replica_url(args, MESSAGES.path))

    return await agentic_workload.run_conversations(send, args.concurrency, args.turns)


def request_headers(api_key: str) -> dict[str, str]:
    headers = {"x-api-key": api_key, "anthropic-version": "2023-06-01",
               "content-type": "application/json"}
    if api_key:
        # llama-server checks Authorization first and x-api-key only when it is absent;
        # antiphon takes either. Sending both lets one --api-key work with both servers.
        headers["authorization"] = f"Bearer {api_key}"
    return headers


async def run(args: argparse.Namespace) -> Summary:
    prompts = load_prompts(args.prompt_file)
    limits = httpx.Limits(max_connections=args.concurrency,
                          max_keepalive_connections=args.concurrency)
    sampler = RssSampler(args.server_pid) if args.server_pid else None
    async with httpx.AsyncClient(base_url=args.url.split(",")[0].rstrip("/"),
                                 headers=request_headers(args.api_key), limits=limits,
                                 timeout=httpx.Timeout(args.timeout)) as client:
        # Warmup absorbs one-off costs (model load, graph build, connection setup). It is
        # a chat request even for the agentic workload, so the system prompt is not
        # already cached when turn 1 is measured.
        for i in range(args.warmup):
            w = await one_request(client, args, prompts, i)
            if not w.ok:
                print(f"warmup {i} failed: status={w.status} {w.error}", file=sys.stderr)

        if sampler:
            sampler.start()
        start = time.perf_counter()
        if args.workload == "agentic":
            results = await run_agentic(client, args)
        else:
            results = await run_chat(client, args, prompts)
        wall = time.perf_counter() - start
        if sampler:
            await sampler.stop()
    summary = summarize(sorted(results, key=lambda r: r.index), wall)
    summary.skipped = args.requests - len(results)
    if sampler:
        sampler.fill(summary)
    return summary


def _fmt(v: Optional[float], spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def _fmt_by_turn(values: dict[int, Optional[float]], spec: str) -> str:
    return " ".join(f"{t}:{_fmt(v, spec)}" for t, v in values.items())


def _optional_rows(s: Summary) -> list[tuple[str, str]]:
    """Rows that only make sense when the server or the workload provides them."""
    rows: list[tuple[str, str]] = []
    if s.cache_read_input_tokens is not None or s.cache_creation_input_tokens is not None:
        rows.append(("cache read / write tokens",
                     f"{s.cache_read_input_tokens} / {s.cache_creation_input_tokens}"))
        rows.append(("cache-read share of prompt", _fmt(s.cache_read_share, ".1%")))
    if s.ttft_p50_ms_by_turn:
        rows.append(("TTFT p50 by turn (ms)", _fmt_by_turn(s.ttft_p50_ms_by_turn, ".0f")))
    if s.cache_read_share_by_turn and any(v is not None for v in s.cache_read_share_by_turn.values()):
        rows.append(("cache-read share by turn", _fmt_by_turn(s.cache_read_share_by_turn, ".0%")))
    if s.rss_peak_mib is not None or s.rss_hwm_mib is not None:
        rows.append(("server RSS start / peak / HWM (MiB)",
                     f"{_fmt(s.rss_start_mib)} / {_fmt(s.rss_peak_mib)} / {_fmt(s.rss_hwm_mib)}"))
    return rows


def report(args: argparse.Namespace, s: Summary) -> None:
    label = args.label or args.model
    print(f"[{label}] {args.api} {args.workload} C={args.concurrency} ok={s.ok} failed={s.failed} "
          f"wall={s.wall_s:.2f}s agg={s.agg_output_tps:.1f} tok/s "
          f"decode={_fmt(s.mean_decode_tps)} tok/s ttft p50={_fmt(s.ttft_p50_ms, '.0f')}ms "
          f"e2e p50={_fmt(s.e2e_p50_ms, '.0f')}ms")
    rows = [
        ("label", label), ("api", args.api), ("workload", args.workload),
        ("concurrency", str(args.concurrency)),
        ("requests ok / failed / skipped", f"{s.ok} / {s.failed} / {s.skipped}"),
        ("wall time (s)", f"{s.wall_s:.2f}"),
        ("prompt / output tokens", f"{s.prompt_tokens} / {s.output_tokens}"),
        ("aggregate output tok/s", f"{s.agg_output_tps:.1f}"),
        ("mean decode tok/s", _fmt(s.mean_decode_tps)),
        ("TTFT p50 / p95 (ms)", f"{_fmt(s.ttft_p50_ms, '.0f')} / {_fmt(s.ttft_p95_ms, '.0f')}"),
        ("e2e p50 / p95 (ms)", f"{_fmt(s.e2e_p50_ms, '.0f')} / {_fmt(s.e2e_p95_ms, '.0f')}"),
        *_optional_rows(s),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    for e in s.errors[:5]:
        print(f"  error {e}", file=sys.stderr)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Load generator for streamed /v1/messages or /v1/chat/completions.")
    p.add_argument("--url", default="http://127.0.0.1:8080",
                   help="server base URL; several, comma-separated: replicas taken in turn")
    p.add_argument("--api-key", default=os.environ.get("ANTHROPIC_API_KEY", ""))
    p.add_argument("--api", choices=tuple(APIS), default="messages",
                   help="messages: POST /v1/messages; openai: POST /v1/chat/completions "
                        "(chat workload only)")
    p.add_argument("--model", required=True)
    p.add_argument("--workload", choices=("chat", "agentic"), default="chat",
                   help="chat: independent prompts; agentic: C multi-turn conversations "
                        "sharing a ~1,500-token system prompt")
    p.add_argument("--concurrency", type=int, default=1,
                   help="parallel workers (chat) or conversations (agentic) (C)")
    p.add_argument("--requests", type=int, default=None,
                   help="measured requests, chat only (default 4*C; agentic: C*turns)")
    p.add_argument("--turns", type=int, default=6, help="turns per conversation (agentic)")
    p.add_argument("--own-system", action="store_true",
                   help="agentic: each conversation's system prompt differs from its first line")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--temperature", type=float, default=None,
                   help="default 0.7 for chat, 0 for agentic (reproducible histories)")
    p.add_argument("--top-k", type=int, default=None,
                   help="sent only when given: otherwise each server samples with its defaults")
    p.add_argument("--top-p", type=float, default=None, help="sent only when given")
    p.add_argument("--prompt-file", default=None, help="one prompt per line (chat, warmup)")
    p.add_argument("--json", default=None, metavar="OUT.json", help="write results as JSON")
    p.add_argument("--label", default="", help="name for this run in the report")
    p.add_argument("--warmup", type=int, default=1, help="sequential unmeasured requests")
    p.add_argument("--timeout", type=float, default=600.0, help="per-request timeout (s)")
    p.add_argument("--server-pid", type=int, default=None,
                   help="sample this process's resident memory from /proc during the run")
    args = p.parse_args(argv)
    if args.concurrency < 1 or (args.requests is not None and args.requests < 1):
        p.error("--concurrency and --requests must be >= 1")
    if args.turns < 1:
        p.error("--turns must be >= 1")
    if args.workload == "agentic" and args.api != "messages":
        p.error("--workload agentic supports --api messages only")
    if args.workload == "agentic":
        args.requests = args.concurrency * args.turns  # planned; the JSON records it
    elif args.requests is None:
        args.requests = 4 * args.concurrency
    if args.temperature is None:
        args.temperature = 0.0 if args.workload == "agentic" else 0.7
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    summary = asyncio.run(run(args))
    report(args, summary)
    if args.json:
        params = {k: v for k, v in vars(args).items() if k != "api_key"}  # never persist keys
        Path(args.json).write_text(json.dumps({"params": params, **asdict(summary)}, indent=2))
    return 1 if summary.ok == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
