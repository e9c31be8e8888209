#!/usr/bin/env bash
# antiphon (unmodified `antiphon serve`) vs llama-server, same CUDA build, same GGUF: chat at
# C = 1, 16, 64 (128 output tokens, temperature 0), and at $SAMPLED_CS (64) again at
# temperature 0.7, where every row is drawn from its distribution. Both servers run side by
# side (the GPU holds both easily), each warmed with $WARM requests, then measured
# alternately over $ROUNDS rounds, so that drift hits both alike. For antiphon, each run also
# reports a step's time split (inside llama_decode vs wall, from /metrics) and the CPU its threads
# spent per output token; one extra C = 64 and C = 1 run each is sampled by py-spy.
# Logs end up in $OUT/logs.tgz (the device returns at most 8 files); RESULT lines on stdout.
KEY=bench-key; MODEL=claude-sonnet-4-5; GGUF=${GGUF:-/tmp/model.gguf}; PY=${PY:-python3}
CS=${CS:-"1 16 64"}; SAMPLED_CS=${SAMPLED_CS:-64}; WARM=${WARM:-300}; PAR=${PAR:-64}; ROUNDS=${ROUNDS:-2}
LS=${LS:-/tmp/keep/build/bin/llama-server}; SPY=${SPY:-/tmp/keep/site/bin/py-spy}
LOGS=/tmp/bench-logs; mkdir -p $LOGS
export ANTIPHON_DATA_DIR=/tmp/antiphon-data
declare -A PORT=([antiphon]=8791 [llama-server]=8792)
declare -A PID=()
metric() {
  curl -s http://127.0.0.1:$1/metrics | awk -v m="$2" 'index($1, m) == 1 && $1 !~ /_created/ {s += $2; n++} END {if (n) print s}'
}
wait_up() {
  for _ in $(seq 240); do curl -sf http://127.0.0.1:${PORT[$1]}/health >/dev/null && return 0; sleep 0.5; done
  echo "$1 did not come up"; tail -30 $LOGS/$1.log; return 1
}
loadgen() {  # SERVER C REQUESTS MAX_TOKENS LABEL [extra loadgen flags]
  local server=$1 c=$2 n=$3 max=$4 label=$5; shift 5
  $PY bench/loadgen.py --url http://127.0.0.1:${PORT[$server]} --api-key $KEY --model $MODEL \
    --workload chat --concurrency $c --requests $n --max-tokens $max --warmup 0 "$@" \
    --label $label --json $LOGS/$label.json
}
measure() {  # SERVER C ROUND [TEMPERATURE]
  local server=$1 c=$2 round=$3 temperature=${4:-0} port=${PORT[$1]} n=$(( $2 == 1 ? 8 : 3 * $2 ))
  local label=$server-c$c-r$round${4:+-t$4}
  local s0 d0 s1 d1 t0 t1
  s0=$(metric $port antiphon_decode_steps_total); d0=$(metric $port antiphon_decode_seconds_total)
  t0=$(date +%s.%N)
  $PY bench/thread_cpu.py ${PID[$server]} -- \
    $PY bench/loadgen.py --url http://127.0.0.1:$port --api-key $KEY --model $MODEL --workload chat \
    --concurrency $c --requests $n --max-tokens 128 --seed 1234 --temperature $temperature --warmup 1 \
    --label $label --json $LOGS/$label.json > $LOGS/$label.log 2>&1 || echo "run $label failed"
  t1=$(date +%s.%N)
  s1=$(metric $port antiphon_decode_steps_total); d1=$(metric $port antiphon_decode_seconds_total)
  $PY - "$LOGS/$label.json" "$label" "$s0" "$s1" "$d0" "$d1" "$t0" "$t1" <<'PY'
import json, sys
_, path, label, s0, s1, d0, d1, t0, t1 = sys.argv
r = json.load(open(path))
line = (f"RESULT {label} ok {r['ok']}/{r['failed']} out_tps {r['agg_output_tps']:.1f} "
        f"ttft_p50 {r['ttft_p50_ms']:.0f}ms itl_p50 {r.get('itl_p50_ms') or 0:.1f}ms")
if s0 and s1:
    steps = float(s1) - float(s0); dec = float(d1) - float(d0); wall = float(t1) - float(t0)
    line += f" steps {steps:.0f} decode/step {1000 * dec / steps:.2f}ms wall/step {1000 * wall / steps:.2f}ms"
print(line, flush=True)
PY
  grep "^THREAD" $LOGS/$label.log | head -6 | sed "s/^/  $label /"
}

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used \
  --format=csv,noheader -lms 500 > $LOGS/gpu_util.csv &
smi=$!
$PY -m antiphon serve --model $GGUF --parallel $PAR --ctx 4096 --max-queue 512 \
  --port ${PORT[antiphon]} --api-key $KEY > $LOGS/antiphon.log 2>&1 &
PID[antiphon]=$!
$LS -m $GGUF -c $((4096 * PAR)) -np $PAR -ngl 99 --port ${PORT[llama-server]} \
  --host 127.0.0.1 --api-key $KEY > $LOGS/llama-server.log 2>&1 &
PID[llama-server]=$!
for server in antiphon llama-server; do wait_up $server || exit 1; done
grep -m1 "^loaded " $LOGS/antiphon.log
for server in antiphon llama-server; do
  loadgen $server 16 $WARM 32 $server-warm --prompt-file bench/warm_prompts.txt --seed 99 \
    --temperature 0.7 > $LOGS/$server-warm.log 2>&1 || echo "warm $server failed"
done
for round in $(seq $ROUNDS); do
  for c in $CS; do
    for server in antiphon llama-server; do measure $server $c $round; done
  done
  for c in $SAMPLED_CS; do  # sampled rows: each server's own sampler per row, not an argmax
    for server in antiphon llama-server; do measure $server $c $round 0.7; done
  done
done
if [ -x "$SPY" ]; then
  for c in ${SPYCS:-64 1}; do
    n=$(( c == 1 ? 16 : 3 * c ))
    loadgen antiphon $c $n 128 antiphon-spy-c$c --seed 7 --temperature 0 > $LOGS/spy-c$c.log 2>&1 &
    lg=$!; sleep 1
    $SPY record -p ${PID[antiphon]} -d 6 -r 1000 --format raw --threads --nonblocking \
      -o $LOGS/spy-c$c.txt >> $LOGS/spy-c$c.log 2>&1
    wait $lg
  done
fi
kill ${PID[antiphon]} ${PID[llama-server]} $smi 2>/dev/null; wait 2>/dev/null
[ -f $LOGS/gpu_util.csv ] && awk -F', ' '{gsub(/ %/,"",$2); if ($2+0 > 0) {n++; s+=$2}} END {if (n) printf "GPU utilisation while busy: mean %.0f%% over %d samples\n", s/n, n}' $LOGS/gpu_util.csv
tar czf $OUT/logs.tgz -C $LOGS .
