#!/usr/bin/env bash
# antiphon (unmodified `antiphon serve`) vs llama-server, same CUDA build, same GGUF: chat at
# C = 1, 16, 64 (128 output tokens, temperature 0), each server warmed with 200 requests first.
PORT=8791; KEY=bench-key; MODEL=claude-sonnet-4-5; GGUF=${GGUF:-/tmp/model.gguf}; PY=${PY:-python3}
CS=${CS:-"1 16 64"}; WARM=${WARM:-200}; PAR=${PAR:-64}
LS=${LS:-/tmp/keep/build/bin/llama-server}
export ANTIPHON_DATA_DIR=/tmp/antiphon-data
metric() { curl -s http://127.0.0.1:$PORT/metrics | awk -v m="$1" 'index($1, m) == 1 && $1 !~ /_created/ {s += $2; n++} END {if (n) print s}'; }
wait_up() {
  for _ in $(seq 240); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && return 0; sleep 0.5; done
  echo "server did not come up"; tail -30 $OUT/$1.log; return 1
}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -lms 1000 > $OUT/gpu_util.csv &
smi=$!
for server in antiphon llama-server; do
  if [ $server = antiphon ]; then
    timeout 400 $PY -m antiphon serve --model $GGUF --parallel $PAR --ctx 4096 --max-queue 512 \
      --port $PORT --api-key $KEY > $OUT/$server.log 2>&1 &
  else
    timeout 400 $LS -m $GGUF -c $((4096 * PAR)) -np $PAR -ngl 99 --port $PORT --host 127.0.0.1 \
      --api-key $KEY > $OUT/$server.log 2>&1 &
  fi
  pid=$!
  wait_up $server || { kill $pid; continue; }
  [ $server = antiphon ] && grep -m1 "loaded" -A3 $OUT/$server.log
  $PY bench/loadgen.py --url http://127.0.0.1:$PORT --api-key $KEY --model $MODEL --workload chat \
    --concurrency 16 --requests $WARM --max-tokens 32 --prompt-file bench/warm_prompts.txt --seed 99 \
    --temperature 0.7 --warmup 0 --label warm > $OUT/$server-warm.log 2>&1 || echo "warm failed"
  for c in $CS; do
    n=$(( c == 1 ? 8 : 3 * c ))
    s0=$(metric antiphon_decode_steps_total); d0=$(metric antiphon_decode_seconds_total); t0=$(date +%s.%N)
    $PY bench/loadgen.py --url http://127.0.0.1:$PORT --api-key $KEY --model $MODEL --workload chat \
      --concurrency $c --requests $n --max-tokens 128 --seed 1234 --temperature 0 --warmup 1 \
      --label $server --json $OUT/$server-c$c.json > $OUT/$server-c$c.log 2>&1 || echo "run failed"
    t1=$(date +%s.%N); s1=$(metric antiphon_decode_steps_total); d1=$(metric antiphon_decode_seconds_total)
    $PY - "$OUT/$server-c$c.json" "$server" "$c" "$s0" "$s1" "$d0" "$d1" "$t0" "$t1" <<'PY'
import json, sys
_, path, server, c, s0, s1, d0, d1, t0, t1 = sys.argv
r = json.load(open(path))
line = (f"RESULT {server} C={c} ok {r['ok']}/{r['failed']} out_tps {r['agg_output_tps']:.1f} "
        f"ttft_p50 {r['ttft_p50_ms']:.0f}ms itl_p50 {r.get('itl_p50_ms') or 0:.1f}ms")
if s0 and s1:
    steps = float(s1) - float(s0); dec = float(d1) - float(d0); wall = float(t1) - float(t0)
    line += f" steps {steps:.0f} decode/step {1000 * dec / steps:.2f}ms wall/step {1000 * wall / steps:.2f}ms"
print(line, flush=True)
PY
  done
  kill $pid; wait $pid 2>/dev/null
done
kill $smi 2>/dev/null
[ -f $OUT/gpu_util.csv ] && awk -F', ' '{gsub(/ %/,"",$2); if ($2+0 > 0) {n++; s+=$2}} END {if (n) printf "GPU utilisation while busy: mean %.0f%% over %d samples\n", s/n, n}' $OUT/gpu_util.csv
