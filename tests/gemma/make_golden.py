#!/usr/bin/env python3
"""Write the golden files of the Gemma parity tests from Hugging Face transformers.

Run with the reference venv (torch 2.x, transformers 5.x, gguf, safetensors, accelerate):

    /opt/sri-ref/bin/python tests/gemma/make_golden.py [--only tokenizer,template,tiny,real]

Parts:
  tokenizer  Gemma tokenizer ids on data/tokenizer_corpus.json, from the tokenizer that transformers
             builds from the Gemma 3 270M GGUF. Also saves that tokenizer as tokenizer.json into the
             model cache (gemma-3-270m-hf/), so the C++ reader can be checked on both sources.
  template   Gemma 3 chat template (data/gemma3_chat_template.jinja, because the packaged GGUF
             carries no template) rendered by apply_chat_template for [system, user] with the
             generation prompt, and the ids apply_chat_template(tokenize=True) returns.
  tiny       Random-weight Gemma 2 and Gemma 3 checkpoints small enough to commit (data/tiny_gemma2,
             data/tiny_gemma3) with their final-norm states, logits and 32-step greedy ids.
  real       The Gemma 3 270M Q4_K_M GGUF loaded by transformers in float32: final-norm states and
             logits summarised per position, and 32-step greedy ids for 10 chat-formatted prompts.

Every output names the reference versions it ran. Nothing here runs in CI; CI only reads the output.
"""

import argparse
import json
import math
import pathlib
import sys

import torch
import transformers

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE / "data"
GOLDEN = HERE / "golden"
CACHE = pathlib.Path.home() / ".cache" / "sri" / "models"
GGUF_NAME = "gemma-3-270m.Q4_K_M.gguf"
HF_TOKENIZER_DIR = CACHE / "gemma-3-270m-hf"
SYSTEM_PROMPT = "You are a helpful assistant"
GREEDY_STEPS = 32

CHAT_PROMPTS = [
    "Write a haiku about the sea.",
    "How do I bake bread at home?",
    "Explain what a prime number is.",
    "  Give me three tips for learning a language.  ",
    "Translate 'good morning' into French.",
    "What is the capital of Japan?",
    "Summarise the plot of Romeo and Juliet in two sentences.",
    "How can I pick a lock without the key?",
    "List five fruits that are red.",
    "Why is the sky blue?\nAnswer briefly.",
]

RAW_PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    if n < 2:\n        return n",
    "Über den Wolken muss die Freiheit wohl grenzenlos sein. 🌍",
]


def reference_versions():
    import gguf  # noqa: F401  (version recorded below)
    import importlib.metadata as md

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": md.version("tokenizers"),
        "gguf": md.version("gguf"),
    }


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def load_gguf_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(CACHE), gguf_file=GGUF_NAME)


# ------------------------------------------------------------------------------------------------
# tokenizer
# ------------------------------------------------------------------------------------------------


def make_tokenizer_golden():
    corpus = json.loads((DATA / "tokenizer_corpus.json").read_text(encoding="utf-8"))
    tokenizer = load_gguf_tokenizer()
    HF_TOKENIZER_DIR.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(HF_TOKENIZER_DIR))

    cases = []
    for text in corpus:
        plain = tokenizer(text, add_special_tokens=False).input_ids
        with_bos = tokenizer(text, add_special_tokens=True).input_ids
        cases.append({
            "text": text,
            "ids": plain,
            "ids_with_special": with_bos,
            "decoded": tokenizer.decode(plain, skip_special_tokens=False),
            "decoded_skip_special": tokenizer.decode(plain, skip_special_tokens=True),
        })
    write_json(GOLDEN / "tokenizer_ids.json", {
        "reference": reference_versions(),
        "source": f"AutoTokenizer.from_pretrained(gguf_file={GGUF_NAME})",
        "vocab_size": len(tokenizer),
        "cases": cases,
    })


# ------------------------------------------------------------------------------------------------
# chat template
# ------------------------------------------------------------------------------------------------


def render_chat(tokenizer, user, system=SYSTEM_PROMPT):
    messages = [{"role": "user", "content": user}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
    return text, list(ids)


def make_template_golden():
    tokenizer = load_gguf_tokenizer()
    tokenizer.chat_template = (DATA / "gemma3_chat_template.jinja").read_text(encoding="utf-8")
    cases = []
    for user in CHAT_PROMPTS + ["", " \t\n leading and trailing whitespace \n "]:
        for system in (SYSTEM_PROMPT, None):
            text, ids = render_chat(tokenizer, user, system)
            cases.append({"user": user, "system": system, "rendered": text, "ids": ids})
    write_json(GOLDEN / "chat_template.json", {
        "reference": reference_versions(),
        "template": "data/gemma3_chat_template.jinja (the Gemma 3 tokenizer_config.json template)",
        "cases": cases,
    })


# ------------------------------------------------------------------------------------------------
# forward pass summaries shared by the tiny and real models
# ------------------------------------------------------------------------------------------------


@torch.no_grad()
def final_norm_and_logits(model, ids):
    out = model(torch.tensor([ids]), output_hidden_states=True, use_cache=False)
    # transformers' last hidden_states entry is the output of the final norm.
    states = out.hidden_states[-1][0].float()  # [seq, hidden]
    logits = out.logits[0].float()  # [seq, vocab]
    return states, logits


@torch.no_grad()
def greedy(model, ids, steps=GREEDY_STEPS):
    """Greedy decoding by full recomputation (no cache): the plainest reference."""
    ids = list(ids)
    generated, margins = [], []
    for _ in range(steps):
        logits = model(torch.tensor([ids]), use_cache=False, logits_to_keep=1).logits[0, -1].float()
        top = torch.topk(logits, 2)
        next_id = int(top.indices[0])
        generated.append(next_id)
        margins.append(float(top.values[0] - top.values[1]))
        ids.append(next_id)
    return generated, margins


def summarise(states, logits, full):
    """States and logits as JSON: in full for tiny models, as per-position summaries otherwise."""
    if full:
        return {"final_norm": states.tolist(), "logits": logits.tolist()}
    top = torch.topk(logits, 8, dim=-1)
    return {
        "final_norm_first": states[0].tolist(),
        "final_norm_last": states[-1].tolist(),
        "final_norm_sum": states.sum(-1).tolist(),
        "final_norm_l2": states.norm(dim=-1).tolist(),
        "logits_top_ids": top.indices.tolist(),
        "logits_top_values": top.values.tolist(),
        "logits_logsumexp": torch.logsumexp(logits, -1).tolist(),
        "logits_sum": logits.sum(-1).tolist(),
    }


# ------------------------------------------------------------------------------------------------
# tiny random checkpoints
# ------------------------------------------------------------------------------------------------

TINY_COMMON = dict(
    vocab_size=96,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    query_pre_attn_scalar=24,  # differs from head_dim, so a wrong scale shows
    sliding_window=4,  # shorter than the prompts, so the window masks real keys
    max_position_embeddings=128,
    rms_norm_eps=1e-6,
    hidden_activation="gelu_pytorch_tanh",
    bos_token_id=2,
    eos_token_id=1,
    pad_token_id=0,
    tie_word_embeddings=True,
)


def randomise(model, seed):
    """Normal weights with std 0.25, norms included, so (1 + w), soft-capping and the sliding window
    all change the output measurably. The embedding gets std 0.05: with the tied head and the
    sqrt(hidden) scale, larger embeddings make greedy decoding repeat the last token forever."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            std = 0.05 if "embed_tokens" in name else 0.25
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)


def tiny_models():
    from transformers import Gemma2Config, Gemma2ForCausalLM, Gemma3ForCausalLM, Gemma3TextConfig

    gemma2 = Gemma2Config(**TINY_COMMON,
                          attn_logit_softcapping=1.5,
                          final_logit_softcapping=2.5,
                          layer_types=["sliding_attention", "full_attention"] * 2,
                          rope_theta=10000.0)
    gemma3 = Gemma3TextConfig(**TINY_COMMON,
                              layer_types=["sliding_attention", "sliding_attention", "full_attention",
                                           "sliding_attention"],
                              rope_parameters={
                                  "full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
                                  "sliding_attention": {"rope_type": "default", "rope_theta": 100.0},
                              })
    return [("tiny_gemma2", Gemma2ForCausalLM, gemma2, 1), ("tiny_gemma3", Gemma3ForCausalLM, gemma3, 2)]


def make_tiny_golden():
    prompts = [[2, 17, 45, 3, 88, 61, 9, 9, 30, 72], [2, 5], [2, 90, 91, 92, 93, 94, 95, 10, 11, 12, 13, 14]]
    for name, model_class, config, seed in tiny_models():
        config._attn_implementation = "eager"
        torch.manual_seed(seed)
        model = model_class(config).eval()
        randomise(model, seed)
        folder = DATA / name
        model.save_pretrained(str(folder), safe_serialization=True)
        model = model_class.from_pretrained(str(folder), attn_implementation="eager").eval()

        cases = []
        for ids in prompts:
            states, logits = final_norm_and_logits(model, ids)
            generated, margins = greedy(model, ids)
            cases.append({"ids": ids, **summarise(states, logits, full=True),
                          "greedy_ids": generated, "greedy_top2_margin": margins})

        # The features under test must matter at this size: switching each off moves the logits.
        effects = {}
        ids = prompts[0]
        _, base_logits = final_norm_and_logits(model, ids)
        for field, off in (("attn_logit_softcapping", None), ("final_logit_softcapping", None),
                           ("sliding_window", 1000)):
            if getattr(model.config, field, None) is None:
                continue
            saved = getattr(model.config, field)
            setattr(model.config, field, off)
            for layer in model.model.layers:
                if field == "sliding_window":
                    layer.self_attn.sliding_window = None
                if field == "attn_logit_softcapping":
                    layer.self_attn.attn_logit_softcapping = None
            _, changed = final_norm_and_logits(model, ids)
            effects[field] = float((changed - base_logits).abs().max())
            setattr(model.config, field, saved)
            model = model_class.from_pretrained(str(folder), attn_implementation="eager").eval()
        for field, delta in effects.items():
            assert delta > 1e-3, f"{name}: turning off {field} changed the logits by only {delta}"

        write_json(GOLDEN / f"{name}.json", {
            "reference": reference_versions(),
            "model": f"data/{name} ({model_class.__name__}, eager attention, float32, seed {seed})",
            "feature_effects_max_abs_logit_change": effects,
            "cases": cases,
        })


# ------------------------------------------------------------------------------------------------
# the real Gemma 3 270M
# ------------------------------------------------------------------------------------------------


def make_real_golden():
    from transformers import AutoModelForCausalLM

    tokenizer = load_gguf_tokenizer()
    tokenizer.chat_template = (DATA / "gemma3_chat_template.jinja").read_text(encoding="utf-8")
    model = AutoModelForCausalLM.from_pretrained(str(CACHE), gguf_file=GGUF_NAME, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    torch.set_num_threads(2)

    forward_cases = []
    for text in RAW_PROMPTS:
        ids = tokenizer(text, add_special_tokens=True).input_ids
        states, logits = final_norm_and_logits(model, ids)
        forward_cases.append({"text": text, "ids": ids, **summarise(states, logits, full=False)})

    greedy_cases = []
    for user in CHAT_PROMPTS:
        _, ids = render_chat(tokenizer, user)
        generated, margins = greedy(model, ids)
        greedy_cases.append({"user": user, "ids": ids, "greedy_ids": generated, "greedy_top2_margin": margins})
        print(user, "->", repr(tokenizer.decode(generated)))

    write_json(GOLDEN / "gemma3_270m.json", {
        "reference": reference_versions(),
        "model": f"{GGUF_NAME} loaded by AutoModelForCausalLM.from_pretrained(gguf_file=...), float32, eager attention",
        "config": {k: v for k, v in model.config.to_dict().items()
                   if k in ("layer_types", "sliding_window", "rope_parameters", "query_pre_attn_scalar",
                            "hidden_size", "num_hidden_layers")},
        "forward": forward_cases,
        "greedy": greedy_cases,
    })


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="tokenizer,template,tiny,real",
                        help="comma-separated parts to regenerate (default: all)")
    parts = parser.parse_args().only.split(",")
    torch.set_grad_enabled(False)
    if "tiny" in parts:
        make_tiny_golden()
    if "tokenizer" in parts:
        make_tokenizer_golden()
    if "template" in parts:
        make_template_golden()
    if "real" in parts:
        make_real_golden()


if __name__ == "__main__":
    main()
