#!/usr/bin/env bash
# Device call 1 of 2: build llama.cpp (libllama + llama-server) for CUDA from the pinned
# llama-cpp-python sources, install antiphon's missing dependencies, keep all in /tmp/keep.
set -x
nvidia-smi -L; nproc; python3 -V
mkdir -p /tmp/keep /tmp/src && tar xzf .gpu1/llama-src.tgz -C /tmp/src
started=$(date +%s)
cmake -S /tmp/src/llama.cpp -B /tmp/keep/build -G Ninja -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DCMAKE_BUILD_TYPE=Release > $OUT/cmake.log 2>&1 || { tail -40 $OUT/cmake.log; exit 1; }
cmake --build /tmp/keep/build -j16 --target llama llama-server mtmd > $OUT/build.log 2>&1 || { tail -60 $OUT/build.log; exit 1; }
echo "build took $(( $(date +%s) - started )) s"
ls /tmp/keep/build/bin
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/keep/site .gpu1/whl/*.whl || exit 1
cp -r .gpu1/py/llama_cpp /tmp/keep/site/
cp .gpu1/gguf.a /tmp/keep/
echo BUILD_OK
