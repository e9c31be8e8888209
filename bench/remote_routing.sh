#!/usr/bin/env bash
# Prefix-affinity routing against round-robin: the agentic workload (bench/loadgen.py:
# C conversations of TURNS turns, each resending its growing history after a shared system
# prompt) through `antiphon serve` in front of UPSTREAMS fresh `llama-server` processes
# (bench/build_llama_server.sh, same GGUF). Each policy gets fresh upstreams; the order
# alternates between rounds. Reported: throughput, TTFT p50, and the share of prompt tokens
# the upstreams found in their caches (antiphon's /health, from what they reported).
# With REPLICAS=N, N antiphon replicas front the same upstreams and the load generator sends
# each request to the next replica in turn (a round-robin load balancer); the policy
# `affinity-shared` is affinity with the replicas sharing their routing memory in Redis
# (REDIS_URL; its keys are removed first).
#
#   bash bench/build_llama_server.sh
#   ROUNDS=2 bash bench/remote_routing.sh
#   REPLICAS=2 POLICIES="affinity affinity-shared" bash bench/remote_routing.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
CACHE=${ANTIPHON_BENCH_CACHE:-$HOME/.cache/antiphon-bench}
LLAMA_SERVER=${LLAMA_SERVER:-$CACHE/llama-server/bin/llama-server}
UPSTREAMS=${UPSTREAMS:-3}
SLOTS=${SLOTS:-4}
CTX=${CTX:-4096}  # per slot
THREADS=${THREADS:-1}  # per upstream
CONCURRENCY=${CONCURRENCY:-6}
TURNS=${TURNS:-6}
MAX_TOKENS=${MAX_TOKENS:-64}
ROUNDS=${ROUNDS:-1}
REPLICAS=${REPLICAS:-1}
POLICIES=${POLICIES:-"affinity round-robin"}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
LOADGEN_FLAGS=${LOADGEN_FLAGS:-}  # e.g. --own-system: no prefix shared between conversations
RESULTS=${RESULTS:-bench/results/remote-routing-$(date +%Y%m%d-%H%M%S)}
ANTIPHON_PORT=8820
KEY=bench-key

[ -x "$LLAMA_SERVER" ] || { echo "no $LLAMA_SERVER: run bench/build_llama_server.sh" >&2; exit 1; }
GGUF=$("$PYTHON" -c 'from antiphon.engine.model_source import embedded_model_path as p; print(p())')
mkdir -p "$RESULTS"
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); }
trap stop_all EXIT

wait_healthy() {  # $1: url, $2: pid, $3: log
  for _ in $(seq 240); do
    curl -sf "$1" >/dev/null && return
    kill -0 "$2" 2>/dev/null || { echo "exited; see $3" >&2; exit 1; }
    sleep 0.5
  done
  echo "not healthy: $1; see $3" >&2; exit 1
}

run_policy() {  # $1: affinity | affinity-shared | round-robin, $2: round
  local urls="" log
  for i in $(seq "$UPSTREAMS"); do
    log="$RESULTS/r$2-$1-upstream$i.log"
    "$LLAMA_SERVER" -m "$GGUF" -c $((CTX * SLOTS)) --parallel "$SLOTS" -t "$THREADS" \
        --host 127.0.0.1 --port $((8820 + i)) > "$log" 2>&1 &
    pids+=($!); wait_healthy "http://127.0.0.1:$((8820 + i))/health" "$!" "$log"
    urls="$urls${urls:+,}http://127.0.0.1:$((8820 + i))"
  done
  local routing=$1 shared=() fronts=""
  if [ "$1" = affinity-shared ]; then
    routing=affinity shared=(--redis-url "$REDIS_URL")
    redis-cli -u "$REDIS_URL" --scan --pattern 'antiphon:routes:*' | xargs -r redis-cli -u "$REDIS_URL" del > /dev/null
  fi
  for r in $(seq "$REPLICAS"); do
    log="$RESULTS/r$2-$1-antiphon$r.log"
    ANTIPHON_DATA_DIR="$RESULTS/r$2-$1-data$r" "$PYTHON" -m antiphon serve --port $((ANTIPHON_PORT + 100 + r)) \
        --api-key $KEY --max-queue 256 "${shared[@]}" --model "smol=llama-server:$urls;routing=$routing" > "$log" 2>&1 &
    pids+=($!); wait_healthy "http://127.0.0.1:$((ANTIPHON_PORT + 100 + r))/health" "$!" "$log"
    fronts="$fronts${fronts:+,}http://127.0.0.1:$((ANTIPHON_PORT + 100 + r))"
  done
  "$PYTHON" bench/loadgen.py --url "$fronts" --api-key $KEY --model smol \
      --workload agentic --concurrency "$CONCURRENCY" --turns "$TURNS" --max-tokens "$MAX_TOKENS" \
      --temperature 0 --warmup 0 --label "$1" --json "$RESULTS/r$2-$1.json" $LOADGEN_FLAGS > /dev/null
  for r in $(seq "$REPLICAS"); do
    curl -s "http://127.0.0.1:$((ANTIPHON_PORT + 100 + r))/health" > "$RESULTS/r$2-$1-health$r.json"
  done
  stop_all
  echo "round $2 $1 done"
}

for round in $(seq "$ROUNDS"); do
  order=$POLICIES
  if [ $((round % 2)) = 0 ]; then order=$(echo "$POLICIES" | awk '{for (i = NF; i; i--) printf "%s ", $i}'); fi
  for policy in $order; do run_policy "$policy" "$round"; done
done

"$PYTHON" - "$RESULTS" <<'EOF'
import json, sys
from pathlib import Path
results = Path(sys.argv[1])
print("| round | routing | output tok/s | TTFT p50 ms | upstream cache hit ratio | requests per upstream |")
print("|---|---|---|---|---|---|")
for path in sorted(results.glob("r*-*.json")):
    if "-health" in path.stem:
        continue
    round_, policy = path.stem.split("-", 1)
    summary = json.loads(path.read_text())
    # Every replica's view of the one pool, summed.
    models = [json.loads(h.read_text())["models"][0] for h in results.glob(f"{path.stem}-health*.json")]
    cached = sum(m["cached_prompt_tokens_total"] for m in models)
    prefilled = sum(m["prompt_tokens_total"] for m in models)
    spread = " / ".join(str(sum(m["upstreams"][i]["requests_total"] for m in models))
                        for i in range(len(models[0]["upstreams"])))
    print(f"| {round_[1:]} | {policy} | {summary['agg_output_tps']:.1f} | {summary['ttft_p50_ms']:.0f} "
          f"| {cached / (cached + prefilled):.2f} | {spread} |")
EOF
