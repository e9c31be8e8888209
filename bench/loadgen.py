"""Load generator for any server speaking Anthropic's streamed ``POST /v1/messages``.

Depends only on httpx so it can be pointed at other servers (or run from another
machine) without installing antiphon. See ``--help`` for the flags.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import httpx

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


@dataclass
class RequestResult:
    index: int
    ok: bool = False
    status: Optional[int] = None
    error: Optional[str] = None
    ttft_s: Optional[float] = None  # None if no non-empty text delta ever arrived
    latency_s: Optional[float] = None
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def decode_tps(self) -> Optional[float]:
        # The first token is paid for by TTFT (prefill), so decode speed counts
        # the remaining tokens over the time after it.
        if self.ttft_s is None or self.latency_s is None or self.output_tokens < 2:
            return None
        span = self.latency_s - self.ttft_s
        return (self.output_tokens - 1) / span if span > 0 else None


@dataclass
class Summary:
    ok: int
    failed: int
    wall_s: float
    input_tokens: int
    output_tokens: int
    agg_output_tps: float
    mean_decode_tps: Optional[float]
    ttft_p50_ms: Optional[float]
    ttft_p95_ms: Optional[float]
    e2e_p50_ms: Optional[float]
    e2e_p95_ms: Optional[float]
    errors: list[str]


def percentile(values: Sequence[float], q: float) -> float:
    """q-th percentile (0..100), linear interpolation like numpy's default."""
    if not values:
        raise ValueError("percentile of empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q}")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _ms_pct(values: list[float], q: float) -> Optional[float]:
    return percentile(values, q) * 1000 if values else None  # None: nothing to measure


def summarize(results: Sequence[RequestResult], wall_seconds: float) -> Summary:
    good = [r for r in results if r.ok]
    bad = [r for r in results if not r.ok]
    out_tokens = sum(r.output_tokens for r in good)
    ttfts = [r.ttft_s for r in good if r.ttft_s is not None]
    e2es = [r.latency_s for r in good if r.latency_s is not None]
    decode = [d for r in good if (d := r.decode_tps) is not None]
    return Summary(
        ok=len(good),
        failed=len(bad),
        wall_s=wall_seconds,
        input_tokens=sum(r.input_tokens for r in good),
        output_tokens=out_tokens,
        agg_output_tps=out_tokens / wall_seconds if wall_seconds > 0 else 0.0,
        mean_decode_tps=sum(decode) / len(decode) if decode else None,
        ttft_p50_ms=_ms_pct(ttfts, 50),
        ttft_p95_ms=_ms_pct(ttfts, 95),
        e2e_p50_ms=_ms_pct(e2es, 50),
        e2e_p95_ms=_ms_pct(e2es, 95),
        errors=[f"#{r.index} status={r.status}: {r.error}" for r in bad],
    )


class SSEDecoder:
    """Feed lines, get (event, data) when an event completes. Network-free so the
    sync parse_sse() (tested) and the async request loop share the same logic."""

    def __init__(self) -> None:
        self.event: Optional[str] = None
        self.data: list[str] = []

    def feed(self, line: str) -> Optional[tuple[str, dict]]:
        line = line.rstrip("\r\n")
        if not line:
            return self.flush()
        if line.startswith(":"):  # SSE comment / keep-alive
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self.event = value
        elif field == "data":
            self.data.append(value)
        return None

    def flush(self) -> Optional[tuple[str, dict]]:
        if not self.data:
            self.event = None
            return None
        data = json.loads("\n".join(self.data))
        # Fall back to the payload's "type" for servers that omit the event: line.
        event = self.event or (data.get("type") if isinstance(data, dict) else None) or "message"
        self.event, self.data = None, []
        return event, data


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, dict]]:
    decoder = SSEDecoder()
    for line in lines:
        if (ev := decoder.feed(line)) is not None:
            yield ev
    if (ev := decoder.flush()) is not None:  # stream ended without a final blank line
        yield ev


def apply_event(res: RequestResult, event: str, data: dict, elapsed: float) -> bool:
    """Update res from one SSE event; returns True when the stream is finished."""
    if event == "message_start":
        res.input_tokens = data.get("message", {}).get("usage", {}).get("input_tokens", 0) or 0
    elif event == "content_block_delta":
        delta = data.get("delta", {})
        if res.ttft_s is None and delta.get("type") == "text_delta" and delta.get("text"):
            res.ttft_s = elapsed
    elif event == "message_delta":
        # Cumulative per the spec, so the last one wins.
        res.output_tokens = data.get("usage", {}).get("output_tokens", res.output_tokens) or 0
    elif event == "error":
        err = data.get("error", {})
        res.error = f"{err.get('type', 'error')}: {err.get('message', data)}"
        return True
    elif event == "message_stop":
        res.ok, res.latency_s = True, elapsed
        return True
    return False


def build_body(args: argparse.Namespace, prompt: str) -> dict:
    return {
        "model": args.model,
        "max_tokens": args.max_tokens,
        "stream": True,
        "temperature": args.temperature,
        "seed": args.seed,
        "messages": [{"role": "user", "content": prompt}],
    }


async def one_request(client: httpx.AsyncClient, args: argparse.Namespace,
                      prompts: list[str], index: int) -> RequestResult:
    res = RequestResult(index=index)
    body = build_body(args, prompts[index % len(prompts)])
    t0 = time.perf_counter()
    try:
        async with client.stream("POST", "/v1/messages", json=body) as resp:
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
                if ev and (done := apply_event(res, ev[0], ev[1], time.perf_counter() - t0)):
                    break
            if not done and (ev := decoder.flush()):  # last event lacked its blank line
                apply_event(res, ev[0], ev[1], time.perf_counter() - t0)
            if not res.ok and res.error is None:
                res.error = "stream ended before message_stop"
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


async def run(args: argparse.Namespace) -> Summary:
    prompts = load_prompts(args.prompt_file)
    n = args.requests
    headers = {"x-api-key": args.api_key, "anthropic-version": "2023-06-01",
               "content-type": "application/json"}
    limits = httpx.Limits(max_connections=args.concurrency,
                          max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=args.url.rstrip("/"), headers=headers,
                                 limits=limits, timeout=httpx.Timeout(args.timeout)) as client:
        # Warmup absorbs one-off costs (model load, graph build, connection setup).
        for i in range(args.warmup):
            w = await one_request(client, args, prompts, i)
            if not w.ok:
                print(f"warmup {i} failed: status={w.status} {w.error}", file=sys.stderr)

        counter = itertools.count()  # safe without a lock: next() never awaits
        results: list[RequestResult] = []

        async def worker() -> None:
            while (i := next(counter)) < n:
                results.append(await one_request(client, args, prompts, i))

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        wall = time.perf_counter() - start
    return summarize(sorted(results, key=lambda r: r.index), wall)


def _fmt(v: Optional[float], spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def report(args: argparse.Namespace, s: Summary) -> None:
    label = args.label or args.model
    print(f"[{label}] C={args.concurrency} ok={s.ok} failed={s.failed} wall={s.wall_s:.2f}s "
          f"agg={s.agg_output_tps:.1f} tok/s decode={_fmt(s.mean_decode_tps)} tok/s "
          f"ttft p50={_fmt(s.ttft_p50_ms, '.0f')}ms e2e p50={_fmt(s.e2e_p50_ms, '.0f')}ms")
    rows = [
        ("label", label), ("concurrency", str(args.concurrency)),
        ("requests ok / failed", f"{s.ok} / {s.failed}"), ("wall time (s)", f"{s.wall_s:.2f}"),
        ("output tokens", str(s.output_tokens)),
        ("aggregate output tok/s", f"{s.agg_output_tps:.1f}"),
        ("mean decode tok/s", _fmt(s.mean_decode_tps)),
        ("TTFT p50 / p95 (ms)", f"{_fmt(s.ttft_p50_ms, '.0f')} / {_fmt(s.ttft_p95_ms, '.0f')}"),
        ("e2e p50 / p95 (ms)", f"{_fmt(s.e2e_p50_ms, '.0f')} / {_fmt(s.e2e_p95_ms, '.0f')}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    for e in s.errors[:5]:
        print(f"  error {e}", file=sys.stderr)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Load generator for streamed /v1/messages.")
    p.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL")
    p.add_argument("--api-key", default=os.environ.get("ANTHROPIC_API_KEY", ""))
    p.add_argument("--model", required=True)
    p.add_argument("--concurrency", type=int, default=1, help="parallel workers (C)")
    p.add_argument("--requests", type=int, default=None, help="measured requests (default 4*C)")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--prompt-file", default=None, help="one prompt per line")
    p.add_argument("--json", default=None, metavar="OUT.json", help="write results as JSON")
    p.add_argument("--label", default="", help="name for this run in the report")
    p.add_argument("--warmup", type=int, default=1, help="sequential unmeasured requests")
    p.add_argument("--timeout", type=float, default=600.0, help="per-request timeout (s)")
    args = p.parse_args(argv)
    if args.concurrency < 1 or (args.requests is not None and args.requests < 1):
        p.error("--concurrency and --requests must be >= 1")
    if args.requests is None:
        args.requests = 4 * args.concurrency
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
