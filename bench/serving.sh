#!/usr/bin/env bash
# Serving benchmark: antiphon with continuous batching vs one sequence at a time.
# Starts `antiphon serve` with each --parallel value, runs bench/loadgen.py at each
# concurrency, writes one JSON per run to bench/results/ and prints the tables.
#
#   bash bench/serving.sh                     # defaults below
#   PARALLEL="16 1" CONCURRENCY="1 4 8 16" MAX_TOKENS=128 bash bench/serving.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
PARALLEL=${PARALLEL:-"16 1"}
CONCURRENCY=${CONCURRENCY:-"1 4 8 16"}
MAX_TOKENS=${MAX_TOKENS:-128}
CTX=${CTX:-2048}
PORT=${PORT:-8790}
KEY=bench-key
mkdir -p bench/results

for parallel in $PARALLEL; do
  "$PYTHON" -m antiphon serve --port "$PORT" --api-key "$KEY" --parallel "$parallel" \
      --ctx "$CTX" --max-queue 256 > "bench/results/server-p$parallel.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 120); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.5; done
  for c in $CONCURRENCY; do
    requests=$(( c < 2 ? 8 : 3 * c ))
    "$PYTHON" bench/loadgen.py --url "http://127.0.0.1:$PORT" --api-key "$KEY" \
        --model smollm2-135m-instruct --concurrency "$c" --requests "$requests" \
        --max-tokens "$MAX_TOKENS" --seed 1234 --temperature 0.7 --warmup 1 \
        --label "parallel=$parallel" --json "bench/results/p$parallel-c$c.json"
  done
  kill "$server"; wait "$server" 2>/dev/null || true
done
