#!/usr/bin/env bash
# What antiphon costs in front of an engine server: one `llama-server` (built by
# bench/build_llama_server.sh, same GGUF) or, with UPSTREAM=vllm, one vLLM (CPU build and
# the Hugging Face copy of the same model, from bench/setup_vllm.sh), measured three ways on
# the same warm process:
#   direct    - the engine's own /v1/messages (both serve the Anthropic API themselves)
#   antiphon  - `antiphon serve --model smol=KIND:URL` in front of it
#   litellm   - LiteLLM's proxy in front of it (its /v1/messages, translated to the
#               upstream's OpenAI-compatible chat endpoint); installed from PyPI into
#               $CACHE/litellm-venv on first use. LITELLM=0 leaves it out.
# Chat workload (bench/loadgen.py), temperature 0, at each C in CONCURRENCY; the three
# targets alternate within each round and the order rotates between rounds (this VM
# drifts). "added TTFT" is a target's TTFT p50 minus the direct one of the same round.
#
#   bash bench/build_llama_server.sh
#   ROUNDS=2 bash bench/remote_overhead.sh
#   PIN=1 ROUNDS=2 bash bench/remote_overhead.sh   # the front on a core of its own (below)
#
# PIN=1 splits the machine: the upstream gets the last core (`taskset`, THREADS defaults to
# 1 there), the fronts and the load generator the others. The front's cost is then its own
# work, not what it takes from the upstream's spinning threads; on a 2-core VM that is the
# only way to measure it apart from that contention.
#   bash bench/setup_vllm.sh && UPSTREAM=vllm ROUNDS=2 bash bench/remote_overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
CACHE=${ANTIPHON_BENCH_CACHE:-$HOME/.cache/antiphon-bench}
LLAMA_SERVER=${LLAMA_SERVER:-$CACHE/llama-server/bin/llama-server}
CONCURRENCY=${CONCURRENCY:-"1 8"}
REQUESTS=${REQUESTS:-32}
MAX_TOKENS=${MAX_TOKENS:-128}
ROUNDS=${ROUNDS:-2}
PARALLEL=${PARALLEL:-8}
CTX=${CTX:-4096}
PIN=${PIN:-0}
if [ "$PIN" = 1 ]; then
  last=$(( $(nproc) - 1 ))
  UPSTREAM_CPUS="taskset -c $last" FRONT_CPUS="taskset -c 0-$(( last > 0 ? last - 1 : 0 ))"
  THREADS=${THREADS:-1}
else
  UPSTREAM_CPUS="" FRONT_CPUS=""
  THREADS=${THREADS:-$(nproc)}
fi
WARM_REQUESTS=${WARM_REQUESTS:-200}
LITELLM=${LITELLM:-1}
UPSTREAM=${UPSTREAM:-llama-server}
RESULTS=${RESULTS:-bench/results/remote-overhead-$(date +%Y%m%d-%H%M%S)}
UPSTREAM_PORT=8811 ANTIPHON_PORT=8812 LITELLM_PORT=8813
KEY=sk-bench-5f0c2a9e7b1d4c3a8e6f9b2d1c0a7e4f  # LiteLLM wants a strong sk- master key

if [ "$UPSTREAM" = llama-server ]; then
  [ -x "$LLAMA_SERVER" ] || { echo "no $LLAMA_SERVER: run bench/build_llama_server.sh" >&2; exit 1; }
fi
GGUF=$("$PYTHON" -c 'from antiphon.engine.model_source import embedded_model_path as p; print(p())')
mkdir -p "$RESULTS"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

wait_healthy() {  # $1: url, $2: pid, $3: log
  for _ in $(seq 600); do
    curl -sf "$1" >/dev/null && return
    kill -0 "$2" 2>/dev/null || { echo "exited; see $3" >&2; exit 1; }
    sleep 0.5
  done
  echo "not healthy: $1; see $3" >&2; exit 1
}

if [ "$UPSTREAM" = vllm ]; then
  # As it is run in production: graphs compiled, prefix caching on (its default).
  VLLM_CPU_KVCACHE_SPACE=2 $UPSTREAM_CPUS "$CACHE/vllm-venv/bin/python" -m vllm.entrypoints.openai.api_server \
      --model "$CACHE/smollm2-hf" --served-model-name smol --dtype float32 \
      --max-model-len "$CTX" --enable-prompt-tokens-details \
      --host 127.0.0.1 --port $UPSTREAM_PORT > "$RESULTS/vllm.log" 2>&1 &
  pids+=($!); wait_healthy "http://127.0.0.1:$UPSTREAM_PORT/health" "$!" "$RESULTS/vllm.log"
  spec="smol=vllm:http://127.0.0.1:$UPSTREAM_PORT;tokenizer=embedded"
else
  $UPSTREAM_CPUS "$LLAMA_SERVER" -m "$GGUF" -c $((CTX * PARALLEL)) --parallel "$PARALLEL" -t "$THREADS" \
      --host 127.0.0.1 --port $UPSTREAM_PORT > "$RESULTS/llama-server.log" 2>&1 &
  pids+=($!); wait_healthy "http://127.0.0.1:$UPSTREAM_PORT/health" "$!" "$RESULTS/llama-server.log"
  spec="smol=llama-server:http://127.0.0.1:$UPSTREAM_PORT"
fi

ANTIPHON_DATA_DIR="$RESULTS/antiphon-data" $FRONT_CPUS "$PYTHON" -m antiphon serve --port $ANTIPHON_PORT \
    --api-key $KEY --max-queue 256 --model "$spec" > "$RESULTS/antiphon.log" 2>&1 &
pids+=($!); wait_healthy "http://127.0.0.1:$ANTIPHON_PORT/health" "$!" "$RESULTS/antiphon.log"
targets="direct antiphon"

if [ "$LITELLM" = 1 ]; then
  if [ ! -x "$CACHE/litellm-venv/bin/litellm" ]; then
    python3 -m venv "$CACHE/litellm-venv"
    "$CACHE/litellm-venv/bin/pip" install -q 'litellm[proxy]'
  fi
  cat > "$RESULTS/litellm.yaml" <<EOF
model_list:
  - model_name: smol
    litellm_params:
      model: openai/smol
      api_base: http://127.0.0.1:$UPSTREAM_PORT/v1
      api_key: none
EOF
  LITELLM_MASTER_KEY=$KEY LITELLM_LOCAL_MODEL_COST_MAP=True $FRONT_CPUS "$CACHE/litellm-venv/bin/litellm" --config "$RESULTS/litellm.yaml" --port $LITELLM_PORT \
      --num_workers 1 > "$RESULTS/litellm.log" 2>&1 &
  pids+=($!); wait_healthy "http://127.0.0.1:$LITELLM_PORT/health/liveliness" "$!" "$RESULTS/litellm.log"
  targets="direct antiphon litellm"
fi

url_of() {
  case $1 in
    direct) echo "http://127.0.0.1:$UPSTREAM_PORT" ;;
    antiphon) echo "http://127.0.0.1:$ANTIPHON_PORT" ;;
    litellm) echo "http://127.0.0.1:$LITELLM_PORT" ;;
  esac
}

# Warm the upstream (and each front) with other prompts first: a server in use.
for target in $targets; do
  $FRONT_CPUS "$PYTHON" bench/loadgen.py --url "$(url_of "$target")" --api-key $KEY --model smol \
      --concurrency 8 --requests $((WARM_REQUESTS / 2)) --max-tokens 32 --temperature 0.7 \
      --prompt-file bench/warm_prompts.txt --warmup 0 > /dev/null
done

for round in $(seq "$ROUNDS"); do
  order=$targets
  for _ in $(seq $(( (round - 1) % 3 ))); do order="$(echo "$order" | cut -d' ' -f2-) $(echo "$order" | cut -d' ' -f1)"; done
  for c in $CONCURRENCY; do
    for target in $order; do
      $FRONT_CPUS "$PYTHON" bench/loadgen.py --url "$(url_of "$target")" --api-key $KEY --model smol \
          --concurrency "$c" --requests "$REQUESTS" --max-tokens "$MAX_TOKENS" --temperature 0 \
          --label "$target" --json "$RESULTS/r$round-c$c-$target.json" --warmup 2 > /dev/null
      echo "round $round C=$c $target done"
    done
  done
done

"$PYTHON" - "$RESULTS" <<'EOF'
import json, sys
from pathlib import Path
results = Path(sys.argv[1])
rows = {}
for path in sorted(results.glob("r*-c*-*.json")):
    round_, c, target = path.stem.split("-", 2)
    rows[(round_, c, target)] = json.loads(path.read_text())
print("| round | C | target | output tok/s | ratio to direct | TTFT p50 ms | added TTFT p50 ms | ITL p50 ms | failed |")
print("|---|---|---|---|---|---|---|---|---|")
for (round_, c, target), s in sorted(rows.items(), key=lambda kv: (kv[0][0], int(kv[0][1][1:]), kv[0][2])):
    direct = rows.get((round_, c, "direct"))
    tps, ttft = s["agg_output_tps"], s["ttft_p50_ms"]
    ratio = tps / direct["agg_output_tps"] if direct else float("nan")
    added = ttft - direct["ttft_p50_ms"] if direct else float("nan")
    print(f"| {round_[1:]} | {c[1:]} | {target} | {tps:.1f} | {ratio:.3f} | {ttft:.1f} "
          f"| {added:+.1f} | {s['itl_p50_ms']:.1f} | {s['failed']} |")
EOF
