"""Make a Hugging Face–format copy of a GGUF model, for engines that load only that format
(vLLM, SGLang): `transformers` dequantizes the GGUF's weights and reads its tokenizer.

    python bench/gguf_to_hf.py MODEL.gguf OUT_DIR

Runs in an environment with `transformers`, `torch` and `gguf` (vLLM's, for instance). The
weights are saved in float32: the CPU build of vLLM computes in it where a CPU lacks bf16.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def convert(gguf: Path, out: Path) -> None:
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # The weights are dequantized already; a plain model of the same config holds them
    # (transformers will not save a model it still marks as GGUF-quantized).
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
