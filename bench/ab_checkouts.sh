#!/usr/bin/env bash
# Two checkouts of antiphon side by side on the same workload, alternating, warm: what a
# change to the engine did, measured as llama.cpp's time per step and the step's wall time
# (their difference is the engine's own work), and output tok/s.
#
#   bash bench/ab_checkouts.sh /path/to/old/src /path/to/new/src
#
# Each checkout's `src` is put first on PYTHONPATH of the same venv. Settings through the
# environment: PAR (--parallel, 64), CS (concurrencies, "16 64"), TEMPERATURE (0.7),
# ROUNDS (2), WARM (warm-up requests, 200), MAX_TOKENS (128), ORDER ("old new": which side
# runs first in each pair). Nothing else should run.
set -euo pipefail
OLD=$1; NEW=$2
PY=${PY:-.venv/bin/python}; PAR=${PAR:-64}; CS=${CS:-"16 64"}; TEMPERATURE=${TEMPERATURE:-0.7}
ROUNDS=${ROUNDS:-2}; WARM=${WARM:-200}; MAX_TOKENS=${MAX_TOKENS:-128}; ORDER=${ORDER:-"old new"}
KEY=bench-key; MODEL=claude-sonnet-4-5
LOGS=${LOGS:-bench/results/ab-$(date +%Y%m%d-%H%M%S)}; mkdir -p "$LOGS"
declare -A SRC=([old]=$OLD [new]=$NEW) PORT=([old]=8793 [new]=8794) PID=()
metric() {
  curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" 'index($1, m) == 1 && $1 !~ /_created/ {s += $2} END {print s + 0}'
}
start() {
  ANTIPHON_DATA_DIR=$LOGS/data-$1 PYTHONPATH=${SRC[$1]} $PY -m antiphon serve --parallel "$PAR" \
    --ctx 4096 --max-queue 512 --port "${PORT[$1]}" --api-key $KEY > "$LOGS/$1.log" 2>&1 &
  PID[$1]=$!
  for _ in $(seq 240); do curl -sf "http://127.0.0.1:${PORT[$1]}/health" >/dev/null && return; sleep 0.5; done
  echo "$1 did not start"; tail -20 "$LOGS/$1.log"; exit 1
}
measure() {  # SIDE C ROUND
  local port=${PORT[$1]} label=$1-c$2-r$3 s0 d0 t0 s1 d1 t1
  s0=$(metric "$port" antiphon_decode_steps_total); d0=$(metric "$port" antiphon_decode_seconds_total)
  t0=$(date +%s.%N)
  $PY bench/loadgen.py --url "http://127.0.0.1:$port" --api-key $KEY --model $MODEL --workload chat \
    --concurrency "$2" --requests $((3 * $2)) --max-tokens "$MAX_TOKENS" --seed 1234 \
    --temperature "$TEMPERATURE" --warmup 0 --label "$label" --json "$LOGS/$label.json" > "$LOGS/$label.log" 2>&1
  t1=$(date +%s.%N)
  s1=$(metric "$port" antiphon_decode_steps_total); d1=$(metric "$port" antiphon_decode_seconds_total)
  $PY - "$LOGS/$label.json" "$label" "$s0" "$s1" "$d0" "$d1" "$t0" "$t1" <<'PY'
import json, sys
_, path, label, s0, s1, d0, d1, t0, t1 = sys.argv
r = json.load(open(path))
steps = float(s1) - float(s0); decode = float(d1) - float(d0); wall = float(t1) - float(t0)
print(f"RESULT {label} ok {r['ok']}/{r['failed']} out_tps {r['agg_output_tps']:.1f} "
      f"itl_p50 {r.get('itl_p50_ms') or 0:.1f}ms steps {steps:.0f} "
      f"decode/step {1000 * decode / steps:.2f}ms wall/step {1000 * wall / steps:.2f}ms", flush=True)
PY
}
trap 'kill ${PID[old]:-} ${PID[new]:-} 2>/dev/null || true' EXIT
for side in old new; do
  start $side
  $PY bench/loadgen.py --url "http://127.0.0.1:${PORT[$side]}" --api-key $KEY --model $MODEL \
    --workload chat --concurrency 16 --requests "$WARM" --max-tokens 32 --warmup 0 --seed 99 \
    --temperature 0.7 --prompt-file bench/warm_prompts.txt > "$LOGS/$side-warm.log" 2>&1
  kill -STOP "${PID[$side]}"  # parked while the other side runs: its threads cannot spin
done
for round in $(seq "$ROUNDS"); do
  for c in $CS; do
    for side in $ORDER; do
      kill -CONT "${PID[$side]}"; measure $side "$c" "$round"; kill -STOP "${PID[$side]}"
    done
  done
done
kill -CONT "${PID[old]}" "${PID[new]}"
