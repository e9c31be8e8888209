#!/usr/bin/env bash
# Serving benchmark: antiphon with continuous batching vs one sequence at a time.
# For each concurrency C, starts `antiphon serve` with each --parallel value in turn (so
# the pair being compared runs minutes apart at most: this VM's speed drifts), runs
# bench/loadgen.py, and writes one JSON per run to bench/results/.
#
#   bash bench/serving.sh
#   PARALLEL="16 1" CONCURRENCY="1 4 8 16" MAX_TOKENS=128 ROUNDS=2 bash bench/serving.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
PARALLEL=${PARALLEL:-"16 1"}
CONCURRENCY=${CONCURRENCY:-"1 4 8 16"}
MAX_TOKENS=${MAX_TOKENS:-128}
ROUNDS=${ROUNDS:-1}
CTX=${CTX:-2048}
PORT=${PORT:-8790}
KEY=bench-key
mkdir -p bench/results
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null || true' EXIT

start_server() {  # $1: --parallel
  "$PYTHON" -m antiphon serve --port "$PORT" --api-key "$KEY" --parallel "$1" --ctx "$CTX" \
      --max-queue 256 > "bench/results/server-p$1.log" 2>&1 &
  server=$!
  for _ in $(seq 240); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return; sleep 0.5; done
  echo "server did not start" >&2; exit 1
}

for round in $(seq "$ROUNDS"); do
  for c in $CONCURRENCY; do
    for parallel in $PARALLEL; do
      start_server "$parallel"
      requests=$(( c < 2 ? 8 : 3 * c ))
      "$PYTHON" bench/loadgen.py --url "http://127.0.0.1:$PORT" --api-key "$KEY" \
          --model smollm2-135m-instruct --concurrency "$c" --requests "$requests" \
          --max-tokens "$MAX_TOKENS" --seed 1234 --temperature 0.7 --warmup 1 \
          --label "parallel=$parallel" --json "bench/results/r$round-p$parallel-c$c.json"
      kill "$server"; wait "$server" 2>/dev/null || true; server=""
    done
  done
done
