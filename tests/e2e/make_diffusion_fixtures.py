#!/usr/bin/env python3
"""Write two tiny masked-diffusion checkpoints for end-to-end tests of the `sri` command.

Run from anywhere with plain Python 3 (standard library only):

    python3 tests/e2e/make_diffusion_fixtures.py

Outputs, each a Hugging Face folder under tests/e2e/data/:
- llada-tiny-chat/: LLaDA-8B-Instruct's config.json key layout and tensor names at d_model 32,
  with LLaDA's special tokens and chat template.
- dream-tiny-chat/: Dream-v0-Instruct-7B's (Qwen2) config.json key layout and tensor names at
  hidden_size 32, with Dream's special tokens and a Qwen2.5 ChatML template.

Each folder contains config.json, generation_config.json, model.safetensors (float16, random
weights), tokenizer.json (byte-level BPE: the 256 byte tokens, a few dozen English merges and the
model's special tokens after them) and tokenizer_config.json. The weights come from a seeded
random.Random, so rerunning the script rewrites identical files.
"""

import json
import random
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
TEMPLATES = HERE.parent / "text" / "templates"

SEED = 20240607
WEIGHT_STD = 0.1  # normal std of every matrix; RMSNorm weights are 1.0
BIAS_STD = 0.02

# Pre-tokenizer split patterns of the published tokenizer.json files of Meta-Llama-3 and
# Qwen2 / Qwen2.5. Dream reuses Qwen2's tokenizer. LLaDA's tokenizer.json has no public copy, so
# its fixture uses the Llama 3 pattern.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# Merges in rank order, spelled in the byte-level alphabet ("Ġ" is a space, "Ċ" a newline).
# Later merges build on earlier ones ("Ġt" + "he" -> "Ġthe").
MERGES = [
    ("Ġ", "t"), ("h", "e"), ("i", "n"), ("e", "r"), ("a", "n"), ("o", "n"), ("r", "e"), ("Ġ", "a"),
    ("Ġ", "s"), ("Ġ", "w"), ("e", "n"), ("a", "t"), ("o", "r"), ("Ġt", "he"), ("Ġt", "o"), ("i", "s"),
    ("e", "s"), ("Ġ", "o"), ("Ġ", "i"), ("Ġ", "c"), ("n", "d"), ("Ġa", "n"), ("Ġan", "d"), ("i", "t"),
    ("o", "u"), ("a", "r"), ("Ġ", "h"), ("Ġ", "b"), ("l", "l"), ("e", "d"), ("n", "g"), ("i", "ng"),
    ("Ġ", "f"), ("Ġ", "p"), ("Ġ", "m"), ("o", "w"), ("a", "s"), ("s", "t"), ("Ċ", "Ċ"), ("Ġ", "Ġ"),
    ("Ġ", "y"), ("Ġy", "ou"), ("a", "l"), ("l", "e"), ("Ġ", "I"), ("h", "a"), ("Ġ", "d"), ("t", "h"),
    ("Ġw", "h"), ("Ġwh", "at"), ("Ġ", "H"), ("Ġh", "e"), ("l", "p"), ("Ġhe", "lp"), ("Ġ", "n"), ("o", "t"),
]


def byte_alphabet():
    """Return GPT-2's byte-to-character table: printable bytes map to themselves, the rest to U+0100 on."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table = {}
    shifted = 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + shifted)
            shifted += 1
    return table


def bpe_vocabulary():
    """Return (vocab, merges): byte tokens as ids 0..255 in byte order, then one token per merge."""
    alphabet = byte_alphabet()
    vocab = {alphabet[byte]: byte for byte in range(256)}
    merges = []
    for left, right in MERGES:
        for part in (left, right):
            if part not in vocab:
                raise ValueError(f"merge ({left!r}, {right!r}) uses {part!r}, which no earlier merge creates")
        merged = left + right
        if merged in vocab:
            raise ValueError(f"merge ({left!r}, {right!r}) repeats token {merged!r}")
        vocab[merged] = len(vocab)
        merges.append(f"{left} {right}")
    return vocab, merges


def tokenizer_json(pattern, normalizer, specials):
    """Build a tokenizer.json with the special tokens numbered right after the BPE vocabulary."""
    vocab, merges = bpe_vocabulary()
    added = [{"id": len(vocab) + index, "content": content, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True}
             for index, content in enumerate(specials)]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                           "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False, "vocab": vocab, "merges": merges},
    }


def special_ids(tokenizer):
    return {token["content"]: token["id"] for token in tokenizer["added_tokens"]}


def padded(count, multiple=16):
    """Round an embedding row count up, as the real checkpoints keep spare rows past the tokenizer's ids."""
    return (count + multiple - 1) // multiple * multiple


class TensorWriter:
    """Collects float16 tensors and writes them as one .safetensors file."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.tensors = []  # (name, shape, little-endian float16 bytes)

    def add(self, name, shape, values):
        count = 1
        for size in shape:
            count *= size
        if len(values) != count:
            raise ValueError(f"{name}: {len(values)} values for shape {shape}")
        self.tensors.append((name, list(shape), struct.pack(f"<{count}e", *values)))

    def normal(self, name, shape, std):
        count = 1
        for size in shape:
            count *= size
        self.add(name, shape, [self.rng.gauss(0.0, std) for _ in range(count)])

    def ones(self, name, shape):
        self.add(name, shape, [1.0] * shape[0])

    def write(self, path):
        """Write the safetensors layout: u64 header length, JSON header, then the data section."""
        header = {"__metadata__": {"format": "pt"}}
        offset = 0
        for name, shape, data in sorted(self.tensors):
            header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + len(data)]}
            offset += len(data)
        header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
        header_bytes += b" " * (-len(header_bytes) % 8)  # keeps the data section 8-byte aligned
        with open(path, "wb") as out:
            out.write(struct.pack("<Q", len(header_bytes)))
            out.write(header_bytes)
            for _, _, data in sorted(self.tensors):
                out.write(data)


def write_json(path, data):
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_tokenizer_files(folder, tokenizer, tokenizer_config):
    # Minified like the fixtures in tests/text/fixtures, with one trailing newline.
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False, separators=(",", ":")) + "\n",
                                           encoding="utf-8")
    write_json(folder / "tokenizer_config.json", tokenizer_config)


def make_llada(folder):
    """LLaDA-8B-Instruct's layout: tokenizer_config and config keys as in GSAI-ML/LLaDA-8B-Instruct."""
    specials = ["<|startoftext|>", "<|endoftext|>", "<|mdm_mask|>", "<|start_header_id|>", "<|end_header_id|>",
                "<|eot_id|>"]
    tokenizer = tokenizer_json(LLAMA3_PATTERN, None, specials)
    ids = special_ids(tokenizer)
    rows = padded(len(bpe_vocabulary()[0]) + len(specials))
    d_model, n_layers, n_heads, mlp_hidden = 32, 2, 4, 64

    config = {
        "activation_type": "silu",
        "alibi": False,
        "alibi_bias_max": 8.0,
        "architectures": ["LLaDAModelLM"],
        "attention_dropout": 0.0,
        "attention_layer_norm": False,
        "attention_layer_norm_with_affine": True,
        "bias_for_layer_norm": False,
        "block_group_size": 1,
        "block_type": "llama",
        "bos_token_id": ids["<|startoftext|>"],
        "d_model": d_model,
        "embedding_dropout": 0.0,
        "embedding_size": rows,
        "eos_token_id": ids["<|endoftext|>"],
        "flash_attention": False,
        "include_bias": False,
        "include_qkv_bias": False,
        "init_cutoff_factor": None,
        "init_device": "cpu",
        "init_fn": "mitchell",
        "init_std": 0.02,
        "input_emb_norm": False,
        "layer_norm_type": "rms",
        "layer_norm_with_affine": True,
        "mask_token_id": ids["<|mdm_mask|>"],
        "max_sequence_length": 512,
        "mlp_hidden_size": mlp_hidden,
        "mlp_ratio": 4,
        "model_type": "llada",
        "multi_query_attention": None,
        "n_heads": n_heads,
        "n_kv_heads": n_heads,
        "n_layers": n_layers,
        "pad_token_id": ids["<|endoftext|>"],
        "precision": "fp32",
        "residual_dropout": 0.0,
        "rms_norm_eps": 1e-05,
        "rope": True,
        "rope_full_precision": True,
        "rope_theta": 500000.0,
        "scale_logits": False,
        "use_cache": False,
        "vocab_size": rows,
        "weight_tying": False,
    }
    write_json(folder / "config.json", config)
    write_json(folder / "generation_config.json", {
        "bos_token_id": ids["<|startoftext|>"], "eos_token_id": ids["<|endoftext|>"],
        "pad_token_id": ids["<|endoftext|>"]})

    weights = TensorWriter(SEED)
    prefix = "model.transformer."
    weights.normal(prefix + "wte.weight", [rows, d_model], WEIGHT_STD)
    for n in range(n_layers):
        block = f"{prefix}blocks.{n}."
        weights.ones(block + "attn_norm.weight", [d_model])
        weights.ones(block + "ff_norm.weight", [d_model])
        for name in ("q_proj", "k_proj", "v_proj", "attn_out"):
            weights.normal(f"{block}{name}.weight", [d_model, d_model], WEIGHT_STD)
        weights.normal(block + "ff_proj.weight", [mlp_hidden, d_model], WEIGHT_STD)
        weights.normal(block + "up_proj.weight", [mlp_hidden, d_model], WEIGHT_STD)
        weights.normal(block + "ff_out.weight", [d_model, mlp_hidden], WEIGHT_STD)
    weights.ones(prefix + "ln_f.weight", [d_model])
    weights.normal(prefix + "ff_out.weight", [rows, d_model], WEIGHT_STD)
    weights.write(folder / "model.safetensors")

    write_tokenizer_files(folder, tokenizer, {
        "add_bos_token": False,
        "add_eos_token": False,
        "bos_token": "<|startoftext|>",
        "chat_template": (TEMPLATES / "llada.jinja").read_text(encoding="utf-8"),
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|endoftext|>",
        "model_max_length": 1000000000000000019884624838656,
        "pad_token": "<|endoftext|>",
        "tokenizer_class": "PreTrainedTokenizerFast",
    })


def make_dream(folder):
    """Dream-v0-Instruct-7B's layout: Qwen2 config keys and tensor names, Dream's special tokens."""
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|beginoftext|>", "<|mask|>"]
    tokenizer = tokenizer_json(QWEN2_PATTERN, {"type": "NFC"}, specials)
    ids = special_ids(tokenizer)
    rows = padded(len(bpe_vocabulary()[0]) + len(specials))
    hidden, layers, heads, kv_heads, intermediate = 32, 2, 4, 2, 64
    head_dim = hidden // heads

    config = {
        "architectures": ["DreamModel"],
        "attention_dropout": 0.0,
        "auto_map": {"AutoConfig": "configuration_dream.DreamConfig", "AutoModel": "modeling_dream.DreamModel"},
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|endoftext|>"],
        "hidden_act": "silu",
        "hidden_size": hidden,
        "initializer_range": 0.02,
        "intermediate_size": intermediate,
        "mask_token_id": ids["<|mask|>"],
        "max_position_embeddings": 512,
        "max_window_layers": layers,
        "model_type": "Dream",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "num_key_value_heads": kv_heads,
        "pad_token_id": ids["<|endoftext|>"],
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "float16",
        "use_cache": False,
        "use_sliding_window": False,
        "vocab_size": rows,
    }
    write_json(folder / "config.json", config)
    # The values of Dream-v0-Instruct-7B's generation_config.json, with this vocabulary's ids.
    write_json(folder / "generation_config.json", {
        "alg": "origin", "alg_temp": None, "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|endoftext|>"], "eps": 0.001, "pad_token_id": ids["<|endoftext|>"], "steps": 512,
        "temperature": 0.0, "top_k": None, "top_p": None})

    weights = TensorWriter(SEED + 1)
    weights.normal("model.embed_tokens.weight", [rows, hidden], WEIGHT_STD)
    for n in range(layers):
        layer = f"model.layers.{n}."
        weights.ones(layer + "input_layernorm.weight", [hidden])
        weights.ones(layer + "post_attention_layernorm.weight", [hidden])
        weights.normal(layer + "self_attn.q_proj.weight", [heads * head_dim, hidden], WEIGHT_STD)
        weights.normal(layer + "self_attn.q_proj.bias", [heads * head_dim], BIAS_STD)
        weights.normal(layer + "self_attn.k_proj.weight", [kv_heads * head_dim, hidden], WEIGHT_STD)
        weights.normal(layer + "self_attn.k_proj.bias", [kv_heads * head_dim], BIAS_STD)
        weights.normal(layer + "self_attn.v_proj.weight", [kv_heads * head_dim, hidden], WEIGHT_STD)
        weights.normal(layer + "self_attn.v_proj.bias", [kv_heads * head_dim], BIAS_STD)
        weights.normal(layer + "self_attn.o_proj.weight", [hidden, heads * head_dim], WEIGHT_STD)
        weights.normal(layer + "mlp.gate_proj.weight", [intermediate, hidden], WEIGHT_STD)
        weights.normal(layer + "mlp.up_proj.weight", [intermediate, hidden], WEIGHT_STD)
        weights.normal(layer + "mlp.down_proj.weight", [hidden, intermediate], WEIGHT_STD)
    weights.ones("model.norm.weight", [hidden])
    weights.normal("lm_head.weight", [rows, hidden], WEIGHT_STD)
    weights.write(folder / "model.safetensors")

    # NOTE: no public copy of Dream-v0-Instruct-7B's tokenizer_config.json was found, so the chat
    # template is Qwen2.5-Instruct's ChatML. A ChatML template renders an explicit system message
    # the same way, but the default system message of Dream's own template is not verified.
    write_tokenizer_files(folder, tokenizer, {
        "add_bos_token": False,
        "add_prefix_space": False,
        "bos_token": "<|beginoftext|>",
        "chat_template": (TEMPLATES / "qwen2.5.jinja").read_text(encoding="utf-8"),
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|endoftext|>",
        "errors": "replace",
        "mask_token": "<|mask|>",
        "model_max_length": 131072,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "unk_token": None,
    })


def main():
    for name, make in (("llada-tiny-chat", make_llada), ("dream-tiny-chat", make_dream)):
        folder = DATA / name
        folder.mkdir(parents=True, exist_ok=True)
        make(folder)
        size = sum(path.stat().st_size for path in folder.iterdir())
        print(f"wrote {folder.relative_to(HERE.parent.parent)} ({size} bytes)")


if __name__ == "__main__":
    main()
