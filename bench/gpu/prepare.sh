#!/usr/bin/env bash
# The GPU check of issue 15, prepared here for a session lent a device machine (the tool
# library's `device`): its working tree may carry 64 MiB a call and the machine reaches no
# network, so this packs what it needs into two ignored folders, one per call:
#
#   .gpu1/  llama.cpp's sources from the pinned llama-cpp-python sdist (without models,
#           docs, tests and the web UI), wheels of antiphon's dependencies that the
#           device's image lacks (Python 3.12), the bindings' Python package, and the
#           first 35 MB of the embedded GGUF;
#   .gpu2/  the rest of the GGUF and its checksum.
#
# Then, back to back (the machine stays warm 30 s between calls; the second finds the
# first's build in /tmp/keep):
#   run(command="bash bench/gpu/build.sh", carry=[".gpu1"], timeout_s=600)   # ~5 min
#   run(command="bash bench/gpu/check.sh", carry=[".gpu2"], timeout_s=600)   # ~3 min
#
# check.sh runs crash_probe.py (which way of loading with a progress display crashes a
# CUDA build) and bench.sh (antiphon vs llama-server from the same build, chat at C = 1,
# 16 and 64, with a step's time split); results come back under $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
SDIST=${SDIST:-$HOME/.cache/antiphon-bench/sdist/llama_cpp_python-0.3.36}
[ -d "$SDIST/vendor/llama.cpp" ] || { echo "no $SDIST: run bench/build_llama_server.sh first" >&2; exit 1; }
for folder in /.gpu1/ /.gpu2/; do
  grep -qx "$folder" .git/info/exclude 2>/dev/null || echo "$folder" >> .git/info/exclude
done
rm -rf .gpu1 .gpu2 && mkdir -p .gpu1/whl .gpu1/py .gpu2
tar czf .gpu1/llama-src.tgz -C "$SDIST/vendor" --exclude='llama.cpp/models' \
  --exclude='llama.cpp/docs' --exclude='llama.cpp/tests' --exclude='llama.cpp/benches' \
  --exclude='llama.cpp/media' --exclude='llama.cpp/examples' --exclude='llama.cpp/gguf-py' \
  --exclude='llama.cpp/tools/ui/src' --exclude='llama.cpp/tools/ui/static' \
  --exclude='llama.cpp/tools/ui/node_modules' --exclude='llama.cpp/.git*' llama.cpp
# Not in the device's image (KINDS.md's package list), at the versions this venv runs.
wheels=(starlette uvicorn httptools pydantic pydantic-core annotated-types typing-inspection
        jsonschema referencing rpds-py jsonschema-specifications pypdf cryptography cffi
        pycparser sqlalchemy greenlet alembic mako aiosqlite redis python-multipart puremagic
        diskcache typing-extensions sniffio py-spy)
pins=()
for name in "${wheels[@]}"; do
  pins+=("$name==$("$PYTHON" -m pip show "$name" | awk '/^Version:/ {print $2}')")
done
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp -d .gpu1/whl --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_31_x86_64 --platform manylinux_2_34_x86_64 \
  --platform manylinux_2_35_x86_64 --platform manylinux1_x86_64 "${pins[@]}"
bindings=$("$PYTHON" -c 'import llama_cpp, os; print(os.path.dirname(llama_cpp.__file__))')
rsync -a --exclude lib --exclude __pycache__ --exclude server "$bindings" .gpu1/py/
gguf=$("$PYTHON" -c 'from antiphon.engine.model_source import embedded_model_path as p; print(p())')
head -c 35000000 "$gguf" > .gpu1/gguf.a
tail -c +35000001 "$gguf" > .gpu2/gguf.b
sha256sum "$gguf" | cut -c1-64 > .gpu2/gguf.sha256
du -sh .gpu1 .gpu2
