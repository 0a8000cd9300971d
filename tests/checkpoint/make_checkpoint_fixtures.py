#!/usr/bin/env python3
"""Write tiny checkpoints of three architectures, each as a GGUF file and as a Hugging Face folder.

For llama, qwen2 and gemma2 the script draws random weights in Hugging Face layout, writes them as a
sharded Hugging Face folder (two safetensors files + model.safetensors.index.json, config.json,
generation_config.json) and as a GGUF file that applies llama.cpp's converter transforms: llama
q_proj/k_proj rows permuted per head to interleaved RoPE pairs, Gemma norm weights stored as 1 + w,
GGUF tensor names and metadata keys. Some matrices are stored as Q8_0 or F16, and the Hugging Face
copy holds the same dequantized values, so both readers must agree exactly.

transformers' own GGUF loader then reads each GGUF file back, and the script checks that it
recovers the Hugging Face tensors. That confirms the fixtures follow the converter's conventions
independently of sri.

Usage: /opt/sri-ref/bin/python tests/checkpoint/make_checkpoint_fixtures.py
Writes tests/checkpoint/data/tiny/<arch>.gguf and tests/checkpoint/data/tiny/<arch>-hf/.
"""

import importlib.metadata
import json
import pathlib
import shutil

import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize
from safetensors.numpy import save_file
from transformers import AutoModelForCausalLM

OUT = pathlib.Path(__file__).resolve().parent / "data" / "tiny"
SEED = 7

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, FFN, VOCAB, LAYERS = 32, 2, 1, 16, 64, 64, 2

CONFIGS = {
    "llama": {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "rope_theta": 100000.0,
              "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "hidden_act": "silu"},
    "qwen2": {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "rope_theta": 1000000.0,
              "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "hidden_act": "silu"},
    "gemma2": {"model_type": "gemma2", "architectures": ["Gemma2ForCausalLM"], "rope_theta": 10000.0,
               "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "hidden_act": "gelu_pytorch_tanh",
               "query_pre_attn_scalar": HEAD_DIM, "sliding_window": 32, "attn_logit_softcapping": 50.0,
               "final_logit_softcapping": 30.0},
}


def hf_tensors(arch, rng):
    """Random weights in HF names and layout, keyed by HF name, with their GGUF storage type."""
    def matrix(rows, cols):
        return (rng.standard_normal((rows, cols)) * 0.1).astype(np.float32)

    def norm():
        return (rng.standard_normal(HIDDEN) * 0.1).astype(np.float32)

    tensors = {"model.embed_tokens.weight": (matrix(VOCAB, HIDDEN), T.Q8_0), "model.norm.weight": (norm(), T.F32)}
    if arch == "qwen2":
        tensors["lm_head.weight"] = (matrix(VOCAB, HIDDEN), T.F16)
    for layer in range(LAYERS):
        p = f"model.layers.{layer}."
        tensors[p + "input_layernorm.weight"] = (norm(), T.F32)
        tensors[p + "post_attention_layernorm.weight"] = (norm(), T.F32)
        tensors[p + "self_attn.q_proj.weight"] = (matrix(HEADS * HEAD_DIM, HIDDEN), T.Q8_0)
        tensors[p + "self_attn.k_proj.weight"] = (matrix(KV_HEADS * HEAD_DIM, HIDDEN), T.F16)
        tensors[p + "self_attn.v_proj.weight"] = (matrix(KV_HEADS * HEAD_DIM, HIDDEN), T.F32)
        tensors[p + "self_attn.o_proj.weight"] = (matrix(HIDDEN, HEADS * HEAD_DIM), T.Q8_0)
        tensors[p + "mlp.gate_proj.weight"] = (matrix(FFN, HIDDEN), T.Q8_0)
        tensors[p + "mlp.up_proj.weight"] = (matrix(FFN, HIDDEN), T.F32)
        tensors[p + "mlp.down_proj.weight"] = (matrix(HIDDEN, FFN), T.F16)
        if arch == "qwen2":
            for name, rows in (("q_proj", HEADS), ("k_proj", KV_HEADS), ("v_proj", KV_HEADS)):
                tensors[p + f"self_attn.{name}.bias"] = ((rng.standard_normal(rows * HEAD_DIM) * 0.1)
                                                         .astype(np.float32), T.F32)
        if arch == "gemma2":
            tensors[p + "pre_feedforward_layernorm.weight"] = (norm(), T.F32)
            tensors[p + "post_feedforward_layernorm.weight"] = (norm(), T.F32)
    return tensors


GGUF_PARTS = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def gguf_name(arch, hf_name):
    if hf_name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf_name == "model.norm.weight":
        return "output_norm.weight"
    if hf_name == "lm_head.weight":
        return "output.weight"
    _, _, layer, rest = hf_name.split(".", 3)
    part, suffix = rest.rsplit(".", 1)
    if arch == "gemma2":
        gemma = {"post_attention_layernorm": "post_attention_norm", "pre_feedforward_layernorm": "ffn_norm",
                 "post_feedforward_layernorm": "post_ffw_norm"}
        if part in gemma:
            return f"blk.{layer}.{gemma[part]}.{suffix}"
    if part == "post_attention_layernorm":
        return f"blk.{layer}.ffn_norm.{suffix}"
    return f"blk.{layer}.{GGUF_PARTS[part]}.{suffix}"


def permute_to_interleaved(weights, heads):
    """llama.cpp's converter permutation: HF half-split rotary rows -> interleaved pairs."""
    return (weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def round_trip(values, qtype):
    """The values a reader gets back after storing `values` as `qtype`."""
    if qtype == T.F32:
        return values, values
    if qtype == T.F16:
        stored = values.astype(np.float16)
        return stored, stored.astype(np.float32)
    stored = quantize(values, qtype)
    return stored, dequantize(stored, qtype).astype(np.float32)


def write_arch(arch, rng):
    settings = CONFIGS[arch]
    tensors = hf_tensors(arch, rng)
    gguf_path = OUT / f"{arch}.gguf"
    writer = gguf.GGUFWriter(str(gguf_path), arch=arch)
    writer.add_name(f"tiny-{arch}")
    writer.add_context_length(256)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_layer_norm_rms_eps(settings["rms_norm_eps"])
    if arch != "gemma2":
        writer.add_rope_freq_base(settings["rope_theta"])
    if arch == "gemma2":
        writer.add_key_length(HEAD_DIM)
        writer.add_value_length(HEAD_DIM)
        writer.add_sliding_window(settings["sliding_window"])
        writer.add_attn_logit_softcapping(settings["attn_logit_softcapping"])
        writer.add_final_logit_softcapping(settings["final_logit_softcapping"])
    writer.add_vocab_size(VOCAB)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    # A minimal byte-free vocabulary so that transformers can build a tokenizer config.
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"t{i}" for i in range(VOCAB)])
    writer.add_token_types([1] * VOCAB)

    hf_values = {}
    for hf_name, (values, qtype) in tensors.items():
        stored, recovered = round_trip(values, qtype)
        hf_values[hf_name] = recovered
        to_store = stored
        if arch == "llama" and (".q_proj." in hf_name or ".k_proj." in hf_name):
            heads = HEADS if ".q_proj." in hf_name else KV_HEADS
            to_store, _ = round_trip(permute_to_interleaved(values, heads), qtype)
        if arch == "gemma2" and hf_name.endswith("norm.weight"):
            to_store = values + 1.0
            hf_values[hf_name] = (to_store - 1.0).astype(np.float32)
        raw_dtype = qtype if qtype not in (T.F32, T.F16) else None
        writer.add_tensor(gguf_name(arch, hf_name), to_store, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    folder = OUT / f"{arch}-hf"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    config = {**settings, "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
              "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM, "intermediate_size": FFN,
              "vocab_size": VOCAB, "max_position_embeddings": 256, "bos_token_id": 1, "eos_token_id": 2,
              "torch_dtype": "float32"}
    (folder / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    (folder / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": [2, 5]}) + "\n")
    names = sorted(hf_values)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    weight_map = {}
    for file_name, shard_names in shards.items():
        save_file({n: np.ascontiguousarray(hf_values[n]) for n in shard_names}, str(folder / file_name),
                  metadata={"format": "pt"})
        weight_map.update({n: file_name for n in shard_names})
    total = sum(v.nbytes for v in hf_values.values())
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1) + "\n")

    check_with_transformers(arch, gguf_path, hf_values)
    return {"arch": arch, "tensors": len(hf_values), "gguf_bytes": gguf_path.stat().st_size}


def check_with_transformers(arch, gguf_path, hf_values):
    model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name,
                                                 dtype=torch.float32)
    state = model.state_dict()
    for name, expected in hf_values.items():
        actual = state[name].numpy()
        assert actual.shape == expected.shape, (arch, name, actual.shape, expected.shape)
        assert np.array_equal(actual, expected), (arch, name, float(np.abs(actual - expected).max()))


def main():
    rng = np.random.default_rng(SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    written = [write_arch(arch, rng) for arch in CONFIGS]
    info = {"seed": SEED, "checked_with": {"transformers": importlib.metadata.version("transformers"),
                                           "gguf": importlib.metadata.version("gguf")}, "written": written}
    (OUT / "README.json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps(info))


if __name__ == "__main__":
    main()
