#!/usr/bin/env python3
"""Convert a GGUF model into a Hugging Face folder with transformers.

transformers dequantizes the GGUF tensors, undoes llama.cpp's converter transforms (the Q/K row
permutation of `llama` files, the +1 on Gemma norm weights) and rebuilds the tokenizer from the GGUF
metadata. The folder gets config.json, model.safetensors (float32), generation_config.json and the
tokenizer files, so sri's two checkpoint readers can be compared on the same real weights.

Usage (needs torch, transformers and gguf, as in the reference venv /opt/sri-ref):
  /opt/sri-ref/bin/python tests/checkpoint/convert_gguf_to_hf.py \
      [--gguf ~/.cache/sri/models/SmolLM2-135M-Instruct.Q4_1.gguf] \
      [--output ~/.cache/sri/models/SmolLM2-135M-Instruct-hf]
"""

import argparse
import importlib.metadata
import json
import pathlib
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

MODELS = pathlib.Path.home() / ".cache" / "sri" / "models"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=pathlib.Path, default=MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf",
                        help="GGUF file to convert")
    parser.add_argument("--output", type=pathlib.Path, default=MODELS / "SmolLM2-135M-Instruct-hf",
                        help="folder to write (created or overwritten)")
    args = parser.parse_args()

    start = time.monotonic()
    gguf_path = args.gguf.expanduser().resolve()
    output = args.output.expanduser()
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name,
                                                  dtype=torch.float32)
    # transformers refuses to save a model loaded from GGUF, so its weights move into a plain model
    # built from the same config.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    del loaded
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)

    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(output), safe_serialization=True)
    tokenizer.save_pretrained(str(output))
    provenance = {
        "source": gguf_path.name,
        "converter": "tests/checkpoint/convert_gguf_to_hf.py",
        "transformers_version": importlib.metadata.version("transformers"),
        "gguf_version": importlib.metadata.version("gguf"),
        "torch_version": torch.__version__,
    }
    (output / "sri_conversion.json").write_text(json.dumps(provenance, indent=1) + "\n")
    print(f"wrote {output} in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
