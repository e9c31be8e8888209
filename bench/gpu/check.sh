#!/usr/bin/env bash
# Device call 2 of 2 (right after build.sh, same warm machine): the load crash, placement,
# then antiphon vs llama-server (same build, same GGUF) at 1, 16 and 64 concurrent.
set -x
[ -f /tmp/keep/build/bin/llama-server ] || { echo "no build: the machine was not the warm one"; exit 3; }
cat /tmp/keep/gguf.a .gpu2/gguf.b > /tmp/model.gguf
echo "$(cat .gpu2/gguf.sha256)  /tmp/model.gguf" | sha256sum -c || exit 1
export PYTHONPATH=/tmp/keep/site:$PWD/src LLAMA_CPP_LIB_PATH=/tmp/keep/build/bin PYTHONUNBUFFERED=1
python3 -c "import antiphon.cli" || exit 1
timeout 200 python3 bench/gpu/crash_probe.py /tmp/model.gguf 2>&1 | tee $OUT/crash_probe.log | grep -v "^    .*\[" | head -60
bash bench/gpu/bench.sh
