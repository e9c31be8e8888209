#!/usr/bin/env bash
# What the OpenAI-compatible endpoint costs against the native one: the same chat workload
# through POST /v1/chat/completions and through POST /v1/messages, on ONE warm
# `antiphon serve` (its embedded model). Both run the same engine, so any difference is the
# chat-completions layer (request translation, chunk encoding, usage accounting); issue 16's
# target is that path within 3 % of /v1/messages (output tok/s, TTFT and ITL alike).
#
# The server is warmed with WARM_REQUESTS chat requests of other prompts
# (bench/warm_prompts.txt), half through each endpoint, so both code paths are warm and the
# prefix cache holds what earlier clients asked. Then, for ROUNDS rounds and each C in
# CONCURRENCY, bench/loadgen.py runs REQUESTS requests of MAX_TOKENS tokens, temperature 0,
# the same seed, through --api messages and --api openai back to back: odd rounds messages
# first, even rounds openai first, so neither always gets the same slot (this VM drifts).
# One JSON per run goes to $RESULTS (under bench/results/, which git ignores); a markdown
# table with each round's openai/messages ratios is printed at the end.
#
#   bash bench/openai_overhead.sh
#   ROUNDS=3 CONCURRENCY="1 4 8" PARALLEL=8 bash bench/openai_overhead.sh
#   # a quick smoke run:
#   ROUNDS=1 CONCURRENCY=1 REQUESTS=8 WARM_REQUESTS=8 bash bench/openai_overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
CONCURRENCY=${CONCURRENCY:-"1 4"}
REQUESTS=${REQUESTS:-32}
MAX_TOKENS=${MAX_TOKENS:-128}
ROUNDS=${ROUNDS:-2}
PARALLEL=${PARALLEL:-4}
CTX=${CTX:-4096}
WARM_REQUESTS=${WARM_REQUESTS:-100}  # unmeasured, once, before the first round
WARM_MAX_TOKENS=${WARM_MAX_TOKENS:-32}
PORT=${PORT:-8831}
ANTIPHON_FLAGS=${ANTIPHON_FLAGS:-}
RESULTS=${RESULTS:-bench/results/openai-overhead-$(date +%Y%m%d-%H%M%S)}
KEY=bench-key
MODEL=smollm2-135m-instruct  # antiphon's id for its embedded model

mkdir -p "$RESULTS"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null || true' EXIT

# shellcheck disable=SC2086  # ANTIPHON_FLAGS is a list of flags
ANTIPHON_DATA_DIR=${ANTIPHON_DATA_DIR:-$RESULTS/antiphon-data} "$PYTHON" -m antiphon serve \
    --port "$PORT" --api-key "$KEY" --parallel "$PARALLEL" --ctx "$CTX" --max-queue 256 \
    $ANTIPHON_FLAGS > "$RESULTS/antiphon.log" 2>&1 &
server=$!
for _ in $(seq 240); do  # /health answers without a key, once the model is loaded
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { echo "antiphon exited; see $RESULTS/antiphon.log" >&2; exit 1; }
  sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null \
    || { echo "antiphon did not become healthy; see $RESULTS/antiphon.log" >&2; exit 1; }

loadgen() {  # $1: api, then loadgen flags
  local api=$1; shift
  "$PYTHON" bench/loadgen.py --url "http://127.0.0.1:$PORT" --api-key "$KEY" --model "$MODEL" \
      --api "$api" "$@"
}

apis_for_round() {  # $1: round; alternates which endpoint goes first
  if (( $1 % 2 == 1 )); then echo "messages openai"; else echo "openai messages"; fi
}

if (( WARM_REQUESTS > 0 )); then
  for api in messages openai; do
    loadgen "$api" --concurrency "$PARALLEL" --requests $(( (WARM_REQUESTS + 1) / 2 )) \
        --max-tokens "$WARM_MAX_TOKENS" --prompt-file bench/warm_prompts.txt --seed 99 \
        --temperature 0.7 --warmup 0 --label warm > "$RESULTS/warm-$api.log" 2>&1 \
        || echo "warm-up through $api failed; see $RESULTS/warm-$api.log" >&2
  done
fi

for round in $(seq "$ROUNDS"); do
  for c in $CONCURRENCY; do
    for api in $(apis_for_round "$round"); do
      # A failed run is reported in its JSON and the table; keep going with the others.
      loadgen "$api" --concurrency "$c" --requests "$REQUESTS" --max-tokens "$MAX_TOKENS" \
          --seed 1234 --temperature 0 --warmup 2 --label "$api" \
          --json "$RESULTS/r$round-c$c-$api.json" > "$RESULTS/r$round-c$c-$api.log" 2>&1 \
          || echo "loadgen failed for round $round C=$c $api; see $RESULTS/r$round-c$c-$api.log" >&2
      echo "round $round C=$c $api done"
    done
  done
done

"$PYTHON" - "$RESULTS" <<'EOF'
"""Markdown table of the runs, each openai run against the messages run of its round and C."""
import json
import sys
from pathlib import Path


def fmt(v, spec=".1f"):
    return "-" if v is None else format(v, spec)


def ratio(a, b):
    return a / b if a is not None and b else None


runs = {}
for path in Path(sys.argv[1]).glob("r*-c*-*.json"):
    round_, c, api = path.stem.split("-", 2)
    runs[(int(round_[1:]), int(c[1:]), api)] = json.loads(path.read_text())

print()
print("| round | C | endpoint | ok/failed | output tok/s | TTFT p50 ms | ITL p50 ms "
      "| openai/messages tok/s | openai/messages TTFT p50 | openai/messages ITL p50 |")
print("|---|---|---|---|---|---|---|---|---|---|")
tps_ratios = {}  # C -> openai/messages output tok/s, one per round
for (round_, c, api), s in sorted(runs.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
    base = runs.get((round_, c, "messages"))
    cols = ["-", "-", "-"]
    if api == "openai" and base:
        r = ratio(s["agg_output_tps"], base["agg_output_tps"])
        if r is not None:
            tps_ratios.setdefault(c, []).append(r)
        cols = [fmt(r, ".3f"), fmt(ratio(s["ttft_p50_ms"], base["ttft_p50_ms"]), ".3f"),
                fmt(ratio(s["itl_p50_ms"], base["itl_p50_ms"]), ".3f")]
    print(f"| {round_} | {c} | {api} | {s['ok']}/{s['failed']} | {s['agg_output_tps']:.1f} "
          f"| {fmt(s['ttft_p50_ms'])} | {fmt(s['itl_p50_ms'], '.2f')} | {' | '.join(cols)} |")
print()
for c, rs in sorted(tps_ratios.items()):
    mean = sum(rs) / len(rs)
    verdict = "within" if mean >= 0.97 else "OUTSIDE"
    print(f"C={c}: openai/messages output tok/s, mean of {len(rs)} round(s): {mean:.3f} "
          f"({verdict} the 3 % target)")
EOF
echo "results: $RESULTS"
