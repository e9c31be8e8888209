#!/usr/bin/env bash
# Build llama.cpp's own `llama-server` from the llama.cpp sources vendored in the
# llama-cpp-python sdist antiphon depends on, with the same ggml flags as antiphon's
# wheel (README's CMAKE_ARGS), so a side-by-side benchmark compares the servers and
# not two different builds of the kernels. CPU only; everything lives outside the repo.
#
#   bash bench/build_llama_server.sh             # -> $LLAMA_SERVER_DIR/bin/llama-server
#   LLAMA_SERVER_DIR=/opt/ls JOBS=4 bash bench/build_llama_server.sh
set -euo pipefail
cd "$(dirname "$0")/.."

LCP_VERSION=${LCP_VERSION:-0.3.36}
CACHE=${ANTIPHON_BENCH_CACHE:-$HOME/.cache/antiphon-bench}
SDIST_DIR=${SDIST_DIR:-$CACHE/sdist}  # where the sdist is downloaded and extracted
LLAMA_SERVER_DIR=${LLAMA_SERVER_DIR:-$CACHE/llama-server}  # cmake build directory
JOBS=${JOBS:-2}

# pip from the project venv when it exists; a bare python3 otherwise (the venv may
# not be installed yet, and downloading an sdist needs nothing from it).
if [ -x .venv/bin/pip ]; then PIP=(.venv/bin/pip); else PIP=(python3 -m pip); fi

src="$SDIST_DIR/llama_cpp_python-$LCP_VERSION"
if [ ! -f "$src/vendor/llama.cpp/tools/server/CMakeLists.txt" ]; then
  mkdir -p "$SDIST_DIR"
  tarball="$SDIST_DIR/llama_cpp_python-$LCP_VERSION.tar.gz"
  if [ ! -f "$tarball" ]; then
    "${PIP[@]}" download "llama-cpp-python==$LCP_VERSION" --no-deps --no-binary :all: \
        --dest "$SDIST_DIR"
  fi
  tar -xzf "$tarball" -C "$SDIST_DIR"
fi
llama_src="$src/vendor/llama.cpp"

# ggml flags: exactly antiphon's wheel. The UI flags only stop the build from
# fetching the prebuilt web UI from Hugging Face (offline, reproducible); the UI
# has no effect on inference.
cmake -S "$llama_src" -B "$LLAMA_SERVER_DIR" \
    -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=ON -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF
cmake --build "$LLAMA_SERVER_DIR" --target llama-server -j"$JOBS"

bin="$LLAMA_SERVER_DIR/bin/llama-server"
[ -x "$bin" ] || { echo "build finished but $bin is missing" >&2; exit 1; }
echo "$bin"
