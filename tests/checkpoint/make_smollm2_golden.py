#!/usr/bin/env python3
"""Write golden values of the real SmolLM2-135M-Instruct Q4_1 GGUF for the checkpoint tests.

Two independent references:
- gguf-py (GGUFReader + gguf.quants.dequantize) gives the stored tensors in GGUF row order;
- transformers (from_pretrained with gguf_file=...) gives the tensors in Hugging Face layout, with
  the llama Q/K row permutation undone, and the config it derives from the metadata.
For a few rows of a few tensors the output keeps the first 32 values and the float64 sum of the row,
so the file stays small.

Usage: /opt/sri-ref/bin/python tests/checkpoint/make_smollm2_golden.py [--gguf PATH]
Writes tests/checkpoint/data/smollm2_golden.json.
"""

import argparse
import importlib.metadata
import json
import pathlib

import numpy as np
import torch
import gguf
from gguf.quants import dequantize
from transformers import AutoModelForCausalLM

MODELS = pathlib.Path.home() / ".cache" / "sri" / "models"
OUT = pathlib.Path(__file__).resolve().parent / "data" / "smollm2_golden.json"
PREFIX = 32

# (GGUF name, HF name, rows). q_proj/k_proj rows differ between the two layouts.
TENSORS = [
    ("token_embd.weight", "model.embed_tokens.weight", [0, 2, 49151]),
    ("output_norm.weight", "model.norm.weight", None),
    ("blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight", None),
    ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", [0, 1, 32, 33, 575]),
    ("blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight", [0, 1, 32, 191]),
    ("blk.29.attn_q.weight", "model.layers.29.self_attn.q_proj.weight", [5, 100]),
    ("blk.29.attn_k.weight", "model.layers.29.self_attn.k_proj.weight", [7, 130]),
    ("blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight", [0, 191]),
    ("blk.3.attn_output.weight", "model.layers.3.self_attn.o_proj.weight", [10]),
    ("blk.7.ffn_gate.weight", "model.layers.7.mlp.gate_proj.weight", [0, 1535]),
    ("blk.7.ffn_up.weight", "model.layers.7.mlp.up_proj.weight", [3]),
    ("blk.7.ffn_down.weight", "model.layers.7.mlp.down_proj.weight", [575]),
    ("blk.12.ffn_norm.weight", "model.layers.12.post_attention_layernorm.weight", None),
]


def row_summary(matrix, rows):
    """First PREFIX values and the float64 sum of each row (a 1-D tensor counts as one row)."""
    if matrix.ndim == 1:
        return [{"row": None, "prefix": matrix[:PREFIX].tolist(), "sum": float(matrix.astype(np.float64).sum())}]
    return [{"row": r, "prefix": matrix[r, :PREFIX].tolist(), "sum": float(matrix[r].astype(np.float64).sum())}
            for r in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=pathlib.Path, default=MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf")
    args = parser.parse_args()
    path = args.gguf.expanduser().resolve()

    reader = gguf.GGUFReader(str(path))
    stored = {t.name: t for t in reader.tensors}
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    state = model.state_dict()

    tensors = []
    for gguf_name, hf_name, rows in TENSORS:
        tensor = stored[gguf_name]
        gguf_values = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        hf_values = state[hf_name].numpy()
        tensors.append({
            "gguf_name": gguf_name,
            "hf_name": hf_name,
            "type": tensor.tensor_type.name,
            "shape": list(hf_values.shape),
            "gguf_rows": row_summary(gguf_values.reshape(hf_values.shape), rows),
            "hf_rows": row_summary(hf_values, rows),
        })

    config = model.config.to_dict()
    golden = {
        "source": path.name,
        "references": {
            "gguf": importlib.metadata.version("gguf"),
            "transformers": importlib.metadata.version("transformers"),
            "torch": torch.__version__,
        },
        "config": {key: config.get(key) for key in [
            "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size",
            "vocab_size", "rms_norm_eps", "rope_theta", "max_position_embeddings", "tie_word_embeddings",
            "bos_token_id", "eos_token_id", "pad_token_id"]},
        "tensor_count": len(reader.tensors),
        "tensor_types": sorted({t.tensor_type.name for t in reader.tensors}),
        "tensors": tensors,
    }
    # transformers 5 keeps rope_theta inside rope_parameters.
    if golden["config"]["rope_theta"] is None and isinstance(config.get("rope_parameters"), dict):
        golden["config"]["rope_theta"] = config["rope_parameters"].get("rope_theta")
    OUT.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
