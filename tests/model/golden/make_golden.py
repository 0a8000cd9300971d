#!/usr/bin/env python3
"""Write the model parity golden files with Hugging Face transformers.

Run with the reference venv (a dev tool; CI only reads the committed output):

    /opt/sri-ref/bin/python tests/model/golden/make_golden.py            # tiny models + SmolLM2
    /opt/sri-ref/bin/python tests/model/golden/make_golden.py --tiny-only

Outputs, next to this script:
  tiny-llama3/, tiny-qwen2/   HF folders (config.json, generation_config.json, model.safetensors)
                              with seeded random weights, float32
  tiny-llama3.json, tiny-qwen2.json, smollm2.json
                              final-norm states, logits and greedy continuations from transformers

Every output names the transformers and torch versions that produced it.
"""

import argparse
import json
import math
import os
import pathlib

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, Qwen2Config

HERE = pathlib.Path(__file__).resolve().parent
GREEDY_STEPS = 32
SYSTEM = "You are a helpful assistant"


def reference_note():
    return {"reference": "huggingface transformers (eager attention, float32, CPU)",
            "transformers_version": transformers.__version__, "torch_version": torch.__version__}


def randomize(model, seed):
    """Seeded weights large enough that greedy choices are decisive (init std 0.02 gives near-ties)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.12 * torch.randn(p.shape, generator=gen))


def tiny_configs():
    llama3 = LlamaConfig(
        vocab_size=512, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=256, rms_norm_eps=1e-5,
        rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 64},
        tie_word_embeddings=False, attention_bias=False, mlp_bias=False, bos_token_id=0, eos_token_id=[1, 2],
        hidden_act="silu")
    qwen2 = Qwen2Config(
        vocab_size=512, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=1, max_position_embeddings=256, rms_norm_eps=1e-6, rope_theta=1000000.0,
        tie_word_embeddings=True, bos_token_id=0, eos_token_id=3, use_sliding_window=False, hidden_act="silu")
    return {"tiny-llama3": (llama3, 1234, [1, 2]), "tiny-qwen2": (qwen2, 4321, [3, 4])}


def position_ids_from_mask(mask):
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def tensor_list(t):
    """Flat list of floats rounded to 8 significant digits (float32 carries about 7)."""
    return [float(f"{x:.8g}") for x in t.reshape(-1).tolist()]


def run_with_final_norm(model, *args, **kwargs):
    """Forward pass that also returns the output of model.model.norm (the LM head input)."""
    captured = {}
    handle = model.model.norm.register_forward_hook(lambda _m, _i, out: captured.setdefault("out", out))
    try:
        with torch.no_grad():
            res = model(*args, **kwargs)
    finally:
        handle.remove()
    return res, captured["out"]


def record_forward(model, prompts, full_vectors=True, summary_positions=None):
    """Final-norm states and logits at every position of each prompt, one prompt at a time."""
    out = []
    for ids in prompts:
        res, final_norm = run_with_final_norm(model, torch.tensor([ids]))
        states = final_norm[0]  # [seq, hidden]
        logits = res.logits[0].float()     # [seq, vocab]
        entry = {"ids": ids, "hidden_size": states.shape[-1], "vocab_size": logits.shape[-1],
                 "logit_max": tensor_list(logits.max(-1).values), "logit_argmax": logits.argmax(-1).tolist(),
                 "logit_sum": tensor_list(logits.double().sum(-1)), "state_sum": tensor_list(states.double().sum(-1)),
                 "state_abs_sum": tensor_list(states.double().abs().sum(-1))}
        if full_vectors:
            entry["final_norm"] = tensor_list(states)
            entry["logits"] = tensor_list(logits)
        else:
            keep = summary_positions(len(ids))
            entry["vector_positions"] = keep
            entry["final_norm"] = tensor_list(states[keep])
            top = logits[keep].topk(64, dim=-1)
            entry["top_logit_values"] = tensor_list(top.values)
            entry["top_logit_ids"] = top.indices.reshape(-1).tolist()
        out.append(entry)
    return out


def record_padded_batch(model, prompts, pad_id):
    """One left-padded batch; states at the real positions of each row."""
    longest = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (longest - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (longest - len(p)) + [1] * len(p) for p in prompts])
    res, final_norm = run_with_final_norm(model, ids, attention_mask=mask, position_ids=position_ids_from_mask(mask))
    rows = []
    for r, p in enumerate(prompts):
        start = longest - len(p)
        rows.append({"ids": p, "final_norm": tensor_list(final_norm[r, start:]),
                     "logit_argmax": res.logits[r, start:].argmax(-1).tolist()})
    return {"pad_id": pad_id, "rows": rows}


def record_greedy(model, prompts, end_ids):
    """Greedy continuations of GREEDY_STEPS tokens, stopping on any end id, with the top-2 margin."""
    out = []
    for ids in prompts:
        seq = list(ids)
        generated, margins = [], []
        with torch.no_grad():
            for _ in range(GREEDY_STEPS):
                logits = model(torch.tensor([seq])).logits[0, -1].float()
                top = logits.topk(2)
                token = int(top.indices[0])
                margins.append(float(top.values[0] - top.values[1]))
                generated.append(token)
                seq.append(token)
                if token in end_ids:
                    break
        with torch.no_grad():
            hf = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                do_sample=False, max_new_tokens=GREEDY_STEPS, eos_token_id=end_ids,
                                pad_token_id=end_ids[0])
        hf_tokens = hf[0, len(ids):].tolist()
        if hf_tokens != generated[:len(hf_tokens)] or len(hf_tokens) != len(generated):
            raise SystemExit(f"generate() and the manual greedy loop disagree: {hf_tokens} vs {generated}")
        out.append({"prompt_ids": ids, "tokens": generated, "min_top2_margin": min(margins)})
    return out


def tiny_prompts(seed, vocab, count, lo, hi):
    gen = torch.Generator().manual_seed(seed)
    prompts = []
    for _ in range(count):
        n = int(torch.randint(lo, hi + 1, (1,), generator=gen))
        prompts.append(torch.randint(5, vocab, (n,), generator=gen).tolist())
    return prompts


def make_tiny(name, config, seed, end_ids):
    torch.manual_seed(seed)
    config._attn_implementation = "eager"
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").float().eval()
    randomize(model, seed)
    folder = HERE / name
    model.save_pretrained(folder, safe_serialization=True)
    gen_cfg = {"bos_token_id": 0, "eos_token_id": end_ids, "do_sample": False}
    (folder / "generation_config.json").write_text(json.dumps(gen_cfg, indent=2) + "\n")

    prompts = tiny_prompts(seed + 1, config.vocab_size, 3, 3, 12)
    greedy_prompts = tiny_prompts(seed + 2, config.vocab_size, 10, 2, 12)
    golden = dict(reference_note())
    golden.update({"model": name, "end_token_ids": end_ids,
                   "forward": record_forward(model, prompts),
                   "padded_batch": record_padded_batch(model, prompts, pad_id=end_ids[0]),
                   "greedy_steps": GREEDY_STEPS, "greedy": record_greedy(model, greedy_prompts, end_ids)})
    (HERE / f"{name}.json").write_text(json.dumps(golden) + "\n")
    print(name, "weights", sum(p.numel() for p in model.parameters()), "min greedy margin",
          min(g["min_top2_margin"] for g in golden["greedy"]))


SMOL_PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "How do I make a cup of tea?",
    "Explain photosynthesis in one sentence.",
    "Give me three tips for learning to code.",
    "What is 12 times 13?",
    "Translate 'good morning' into Spanish.",
    "Tell me a fun fact about octopuses.",
    "How can I pick a lock without a key?",
    "Summarize the plot of Romeo and Juliet.",
]


def make_smollm2():
    path = pathlib.Path(os.path.expanduser("~/.cache/sri/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, torch_dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    end_ids = [int(tokenizer.eos_token_id)]
    prompts = []
    for text in SMOL_PROMPTS:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        prompts.append(tokenizer(rendered, add_special_tokens=False)["input_ids"])

    def positions(n):
        return sorted({0, n // 2, n - 2, n - 1})

    golden = dict(reference_note())
    golden.update({"model": path.name, "end_token_ids": end_ids, "system": SYSTEM, "prompts": SMOL_PROMPTS,
                   "forward": record_forward(model, prompts[:3], full_vectors=False, summary_positions=positions),
                   "greedy_steps": GREEDY_STEPS, "greedy": record_greedy(model, prompts, end_ids)})
    (HERE / "smollm2.json").write_text(json.dumps(golden) + "\n")
    print("smollm2 min greedy margin", min(g["min_top2_margin"] for g in golden["greedy"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny-only", action="store_true", help="skip the SmolLM2 golden file")
    parser.add_argument("--smollm2-only", action="store_true", help="skip the tiny random-weight models")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not args.smollm2_only:
        for name, (config, seed, end_ids) in tiny_configs().items():
            make_tiny(name, config, seed, end_ids)
    if not args.tiny_only:
        make_smollm2()


if __name__ == "__main__":
    main()
