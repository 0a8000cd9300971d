#!/usr/bin/env python3
"""Build tiny LLaDA and Dream checkpoints and record what the reference Python code does with them.

The reference code is read from a folder outside this repository (flag --reference or the
environment variable SRI_DIFFUSION_REFERENCE, default /work/ref-diffusion) laid out as:

    <reference>/llada/{modeling_llada.py, configuration_llada.py, generate.py, __init__.py}
    <reference>/dream/{modeling_dream.py, configuration_dream.py, generation_utils.py, __init__.py}
    <reference>/SOURCES.json   repository, path and commit of every file (copied into the output)

The script downloads nothing. Run it with the project's reference virtual environment:

    /opt/sri-ref/bin/python tests/diffusion/make_golden.py

It writes, under tests/diffusion/golden/:

    llada-tiny/{config.json, generation_config.json, model.safetensors}
    dream-tiny/{config.json, generation_config.json, model.safetensors}
    llada.json, dream.json          profiles, prompts, per-step canvases and final tokens
    llada.safetensors, dream.safetensors
        "<case>.final_norm"  [steps, rows, seq, hidden] float32, the final-norm output of every
                             forward pass of a case (rows = batch, doubled with guidance)
        "forward.logits"     [batch, seq, vocab] logits of one plain forward pass
        "forward.final_norm" [batch, seq, hidden]

Vocabulary choice: the real vocabularies (126464 rows for LLaDA, 152064 for Dream) would make the
embedding and output matrices several MB each even at width 16, and logits over them tens of MB per
profile. The tiny checkpoints use a 256-token vocabulary and remap the special ids into it. The
C++ code reads the mask, end-of-sequence and end-of-turn ids from its inputs, so the same code
path runs as with the real ids. LLaDA's generate.py hard-codes 126081 and 126348 for its two
end-of-sequence switches. The script rewrites those two literals to the tiny ids when it loads the
file, and llada.json records that under "patches".
"""

import argparse
import hashlib
import importlib
import json
import os
import pathlib
import sys
import types

import torch
from safetensors.torch import save_file

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "golden"

VOCAB = 256
LLADA_IDS = {"mask": 200, "eos": 201, "eot": 202, "bos": 203}  # real: 126336, 126081, 126348, 126080
DREAM_IDS = {"mask": 200, "eos": 201, "im_end": 202}  # real: 151666, 151643, 151645


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", default=os.environ.get("SRI_DIFFUSION_REFERENCE", "/work/ref-diffusion"),
                        help="folder holding the reference llada/ and dream/ packages")
    return parser.parse_args()


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def random_weights(shapes, seed, std_of):
    gen = torch.Generator().manual_seed(seed)
    return {name: torch.randn(shape, generator=gen) * std_of(name, shape) for name, shape in shapes.items()}


# ----------------------------------------------------------------------------------------------
# LLaDA
# ----------------------------------------------------------------------------------------------

LLADA_CONFIG = {
    "activation_type": "silu", "alibi": False, "alibi_bias_max": 8.0, "architectures": ["LLaDAModelLM"],
    "attention_dropout": 0.0, "attention_layer_norm": False, "attention_layer_norm_with_affine": True,
    "bias_for_layer_norm": False, "block_group_size": 1, "block_type": "llama", "d_model": 32,
    "embedding_dropout": 0.0, "embedding_size": VOCAB, "eos_token_id": LLADA_IDS["eos"], "flash_attention": False,
    "include_bias": False, "include_qkv_bias": False, "init_cutoff_factor": None, "init_device": "cpu",
    "init_fn": "mitchell", "init_std": 0.02, "input_emb_norm": False, "layer_norm_type": "rms",
    "layer_norm_with_affine": True, "mask_token_id": LLADA_IDS["mask"], "max_sequence_length": 64,
    "mlp_hidden_size": 48, "mlp_ratio": 4, "model_type": "llada", "multi_query_attention": None, "n_heads": 4,
    "n_kv_heads": 4, "n_layers": 2, "pad_token_id": LLADA_IDS["eos"], "precision": "fp32",
    "residual_dropout": 0.0, "rms_norm_eps": 1e-05, "rope": True, "rope_full_precision": True,
    "rope_theta": 500000.0, "scale_logits": False, "use_cache": False, "vocab_size": VOCAB, "weight_tying": False,
}


def llada_shapes(cfg):
    d, f, v = cfg["d_model"], cfg["mlp_hidden_size"], cfg["embedding_size"]
    kv = cfg["n_kv_heads"] * (d // cfg["n_heads"])
    shapes = {"model.transformer.wte.weight": (v, d), "model.transformer.ln_f.weight": (d,),
              "model.transformer.ff_out.weight": (v, d)}
    for n in range(cfg["n_layers"]):
        p = f"model.transformer.blocks.{n}."
        shapes.update({p + "attn_norm.weight": (d,), p + "ff_norm.weight": (d,), p + "q_proj.weight": (d, d),
                       p + "k_proj.weight": (kv, d), p + "v_proj.weight": (kv, d), p + "attn_out.weight": (d, d),
                       p + "ff_proj.weight": (f, d), p + "up_proj.weight": (f, d), p + "ff_out.weight": (d, f)})
    return shapes


def weight_std(name, shape):
    # Norm weights near 1, embeddings of unit scale, projections of scale 1/sqrt(fan_in) times two so
    # that logits spread over several units and argmax ties stay unlikely.
    if name.endswith("norm.weight") or name.endswith("ln_f.weight") or name.endswith("model.norm.weight"):
        return 0.1
    if len(shape) == 2 and ("wte" in name or "embed_tokens" in name):
        return 1.0
    return 2.0 / shape[1] ** 0.5


def finish_weights(weights, norm_suffixes, head_name, boosted_rows):
    for name in weights:
        if any(name.endswith(s) for s in norm_suffixes):
            weights[name] = weights[name] + 1.0
    # Larger output rows for the end-of-sequence ids make the tiny model pick them now and then, so
    # the end-of-sequence switches change the outcome.
    for row in boosted_rows:
        weights[head_name][row] *= 2.5
    return {k: v.contiguous() for k, v in weights.items()}


def write_folder(folder, config, generation_config, weights):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (folder / "generation_config.json").write_text(json.dumps(generation_config, indent=2, sort_keys=True) + "\n")
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})


def load_llada_generate(reference):
    path = pathlib.Path(reference) / "llada" / "generate.py"
    source = path.read_text()
    patches = []
    for real, tiny in (("126081", LLADA_IDS["eos"]), ("126348", LLADA_IDS["eot"])):
        count = source.count(real)
        source = source.replace(real, str(tiny))
        patches.append(f"generate.py: replaced the literal {real} with {tiny} ({count} occurrences)")
    module = types.ModuleType("llada_generate")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module, patches


class Recorder:
    """Captures the final-norm output and the input ids of every forward pass."""

    def __init__(self):
        self.states, self.inputs = [], []

    def norm_hook(self, module, args, output):
        self.states.append(output.detach().float().clone())

    def reset(self):
        self.states, self.inputs = [], []


def llada_cases():
    p1 = [203, 17, 45, 3, 99, 150, 8, 61]
    p2 = [203, 5, 77, 190, 12, 33]
    base = dict(steps=8, gen_length=16, block_length=16, temperature=0.0, cfg_scale=0.0,
                remasking="low_confidence", logits_eos_inf=False, confidence_eos_eot_inf=False)
    cases = [
        ("one_block", [p1], base),
        ("four_blocks", [p1], dict(base, block_length=4)),
        ("uneven_schedule", [p2], dict(base, steps=6)),
        ("two_blocks_p2", [p2], dict(base, block_length=8, steps=8)),
        ("random_remasking", [p1], dict(base, block_length=8, remasking="random", seed=11)),
        ("cfg", [p1], dict(base, block_length=8, cfg_scale=1.5)),
        ("cfg_four_blocks", [p2], dict(base, block_length=4, cfg_scale=0.5)),
        ("temperature", [p1], dict(base, block_length=8, temperature=0.7, seed=5)),
        ("temperature_random", [p2], dict(base, block_length=8, temperature=1.0, remasking="random", seed=6)),
        ("logits_eos_inf", [p2], dict(base, block_length=8, logits_eos_inf=True)),
        ("confidence_eos_eot_inf", [p2], dict(base, block_length=8, confidence_eos_eot_inf=True)),
        ("confidence_eos_eot_inf_temperature", [p2],
         dict(base, block_length=8, temperature=0.8, confidence_eos_eot_inf=True, seed=9)),
        ("batch_left_padded", [p1, p2], dict(base, block_length=8)),
        ("batch_cfg", [p1, p2], dict(base, block_length=8, cfg_scale=1.0)),
    ]
    return cases


def left_pad(prompts, pad):
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
    return ids, mask


def run_llada(reference, sources):
    sys.path.insert(0, str(reference))
    modeling = importlib.import_module("llada.modeling_llada")
    configuration = importlib.import_module("llada.configuration_llada")
    generate, patches = load_llada_generate(reference)

    folder = OUT / "llada-tiny"
    weights = random_weights(llada_shapes(LLADA_CONFIG), 1234, weight_std)
    weights = finish_weights(weights, ("norm.weight", "ln_f.weight"), "model.transformer.ff_out.weight",
                             (LLADA_IDS["eos"], LLADA_IDS["eot"]))
    generation_config = {"bos_token_id": LLADA_IDS["bos"], "eos_token_id": LLADA_IDS["eos"],
                         "pad_token_id": LLADA_IDS["eos"]}
    write_folder(folder, LLADA_CONFIG, generation_config, weights)

    config = configuration.LLaDAConfig(**LLADA_CONFIG)
    # transformers 5 no longer keeps "use_cache" on PretrainedConfig; modeling_llada.py reads it.
    config.use_cache = False
    # LLaDAModelLM builds its inner model on "cuda" unless one is given, so build it here on the CPU.
    inner_config = modeling.create_model_config_from_pretrained_config(config)
    inner_config.init_device = "cpu"
    model = modeling.LLaDAModelLM(config, model=modeling.LLaDAModel(inner_config, init_params=False))
    model.load_state_dict(weights, strict=True)
    model.eval()
    recorder = Recorder()
    model.model.transformer.ln_f.register_forward_hook(recorder.norm_hook)
    original_forward = model.forward

    def recording_forward(input_ids=None, **kwargs):
        recorder.inputs.append(input_ids.clone())
        return original_forward(input_ids=input_ids, **kwargs)

    model.forward = recording_forward

    tensors, records = {}, []
    with torch.no_grad():
        ids, mask = left_pad([[203, 17, 45, 3, 99, 150, 8, 61, 200, 200, 7, 200], [203, 5, 77, 190, 200, 12]], 201)
        recorder.reset()
        out = model(input_ids=ids, attention_mask=mask)
        tensors["forward.logits"] = out.logits.float().contiguous()
        tensors["forward.final_norm"] = recorder.states[0].contiguous()
        forward_record = {"tokens": ids.tolist(), "attention_mask": mask.tolist()}

        for name, prompts, profile in llada_cases():
            ids, mask = left_pad(prompts, LLADA_IDS["eos"])
            recorder.reset()
            if "seed" in profile:
                torch.manual_seed(profile["seed"])
            args = {k: v for k, v in profile.items() if k != "seed"}
            out = generate.generate(model, ids, attention_mask=mask, mask_id=LLADA_IDS["mask"], **args)
            canvases = [x.tolist() for x in recorder.inputs]
            tensors[f"{name}.final_norm"] = torch.stack(recorder.states).contiguous()
            records.append({"name": name, "profile": profile, "prompt_tokens": ids.tolist(),
                            "attention_mask": mask.tolist(), "forward_inputs": canvases,
                            "output": out.tolist()})

    save_file(tensors, str(OUT / "llada.safetensors"))
    meta = {"reference": sources["llada"], "patches": patches, "torch": torch.__version__,
            "transformers": importlib.import_module("transformers").__version__, "ids": LLADA_IDS,
            "checkpoint_sha256": sha256(folder / "model.safetensors"), "forward": forward_record,
            "cases": records}
    (OUT / "llada.json").write_text(json.dumps(meta, separators=(",", ":")) + "\n")


# ----------------------------------------------------------------------------------------------
# Dream
# ----------------------------------------------------------------------------------------------

DREAM_CONFIG = {
    "architectures": ["DreamModel"], "attention_dropout": 0.0,
    "auto_map": {"AutoConfig": "configuration_dream.DreamConfig", "AutoModel": "modeling_dream.DreamModel"},
    "bos_token_id": DREAM_IDS["eos"], "eos_token_id": DREAM_IDS["eos"], "hidden_act": "silu", "hidden_size": 32,
    "initializer_range": 0.02, "intermediate_size": 48, "mask_token_id": DREAM_IDS["mask"],
    "max_position_embeddings": 128, "max_window_layers": 2, "model_type": "Dream", "num_attention_heads": 4,
    "num_hidden_layers": 2, "num_key_value_heads": 2, "pad_token_id": DREAM_IDS["eos"], "rms_norm_eps": 1e-06,
    "rope_scaling": None, "rope_theta": 1000000.0, "sliding_window": None, "tie_word_embeddings": False,
    "torch_dtype": "float32", "use_cache": False, "use_sliding_window": False, "vocab_size": VOCAB,
}


def dream_shapes(cfg):
    d, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    kv = cfg["num_key_value_heads"] * (d // cfg["num_attention_heads"])
    shapes = {"model.embed_tokens.weight": (v, d), "model.norm.weight": (d,), "lm_head.weight": (v, d)}
    for n in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{n}."
        shapes.update({p + "self_attn.q_proj.weight": (d, d), p + "self_attn.q_proj.bias": (d,),
                       p + "self_attn.k_proj.weight": (kv, d), p + "self_attn.k_proj.bias": (kv,),
                       p + "self_attn.v_proj.weight": (kv, d), p + "self_attn.v_proj.bias": (kv,),
                       p + "self_attn.o_proj.weight": (d, d), p + "mlp.gate_proj.weight": (f, d),
                       p + "mlp.up_proj.weight": (f, d), p + "mlp.down_proj.weight": (d, f),
                       p + "input_layernorm.weight": (d,), p + "post_attention_layernorm.weight": (d,)})
    return shapes


def dream_std(name, shape):
    if name.endswith("bias"):
        return 0.3
    if "layernorm" in name or name == "model.norm.weight":
        return 0.1
    return weight_std(name, shape)


def dream_cases():
    p1 = [7, 88, 12, 140, 3, 55, 91]
    p2 = [19, 4, 160, 77, 30]
    base = dict(max_new_tokens=16, steps=8, temperature=0.0, top_p=None, top_k=None, alg="maskgit_plus",
                alg_temp=0.0, eps=1e-3)
    return [
        ("maskgit_plus", [p1], base),
        ("topk_margin", [p1], dict(base, alg="topk_margin")),
        ("entropy", [p1], dict(base, alg="entropy")),
        ("entropy_steps16", [p2], dict(base, alg="entropy", steps=16)),
        ("entropy_top_p", [p1], dict(base, alg="entropy", top_p=0.6)),
        ("maskgit_plus_top_k", [p2], dict(base, top_k=5)),
        ("topk_margin_steps5", [p2], dict(base, alg="topk_margin", steps=5)),
        ("origin", [p1], dict(base, alg="origin", seed=3)),
        ("origin_steps16", [p2], dict(base, alg="origin", steps=16, seed=4)),
        ("batch_left_padded", [p1, p2], dict(base, alg="entropy")),
        ("batch_left_padded_margin", [p1, p2], dict(base, alg="topk_margin")),
    ]


def default_rope_init(config, device=None, **unused):
    """Unscaled rotary frequencies, which transformers 5 no longer registers under "default"."""
    dim = config.hidden_size // config.num_attention_heads
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).to(device=device, dtype=torch.float) / dim
    return 1.0 / (config.rope_theta ** exponents), 1.0


def run_dream(reference, sources):
    sys.path.insert(0, str(reference))
    patches = []
    rope_utils = importlib.import_module("transformers.modeling_rope_utils")
    if "default" not in rope_utils.ROPE_INIT_FUNCTIONS:
        rope_utils.ROPE_INIT_FUNCTIONS["default"] = default_rope_init
        patches.append("transformers.modeling_rope_utils.ROPE_INIT_FUNCTIONS['default'] added: "
                       "inv_freq = 1 / rope_theta ** (arange(0, head_dim, 2) / head_dim), scaling 1.0")
    modeling = importlib.import_module("dream.modeling_dream")
    configuration = importlib.import_module("dream.configuration_dream")
    DreamGenerationConfig = importlib.import_module("dream.generation_utils").DreamGenerationConfig

    folder = OUT / "dream-tiny"
    weights = random_weights(dream_shapes(DREAM_CONFIG), 4321, dream_std)
    weights = finish_weights(weights, ("layernorm.weight", "model.norm.weight"), "lm_head.weight",
                             (DREAM_IDS["eos"],))
    generation_config = {"alg": "origin", "alg_temp": None, "bos_token_id": DREAM_IDS["eos"], "eps": 0.001,
                         "eos_token_id": DREAM_IDS["eos"], "pad_token_id": DREAM_IDS["eos"], "steps": 512,
                         "temperature": 0.0, "top_k": None, "top_p": None}
    write_folder(folder, DREAM_CONFIG, generation_config, weights)

    config_args = {k: v for k, v in DREAM_CONFIG.items() if k not in ("architectures", "auto_map", "model_type")}
    config = configuration.DreamConfig(**config_args)
    config._attn_implementation = "sdpa"
    model = modeling.DreamModel(config)
    model.load_state_dict(weights, strict=True)
    model.eval()
    recorder = Recorder()
    model.model.norm.register_forward_hook(recorder.norm_hook)

    tensors, records = {}, []
    with torch.no_grad():
        ids = torch.tensor([[7, 88, 12, 140, 3, 55, 91, 200, 200, 9, 200]])
        recorder.reset()
        out = model(ids)
        tensors["forward.logits"] = out.logits.float().contiguous()
        tensors["forward.final_norm"] = recorder.states[0].contiguous()
        forward_record = {"tokens": ids.tolist()}

        for name, prompts, profile in dream_cases():
            ids, mask = left_pad(prompts, DREAM_IDS["eos"])
            recorder.reset()
            if "seed" in profile:
                torch.manual_seed(profile["seed"])
            args = {k: v for k, v in profile.items() if k != "seed"}
            canvases = []

            def tokens_hook(step, x, logits):
                canvases.append(x.tolist())
                return x

            kwargs = dict(attention_mask=mask) if len(prompts) > 1 else {}
            # An explicit generation config, because DreamGenerationConfig.from_model_config fails
            # under transformers 5.
            generation = DreamGenerationConfig(mask_token_id=DREAM_IDS["mask"], pad_token_id=DREAM_IDS["eos"],
                                               bos_token_id=DREAM_IDS["eos"], eos_token_id=DREAM_IDS["eos"],
                                               **args)
            out = model.diffusion_generate(ids, generation_config=generation,
                                           generation_tokens_hook_func=tokens_hook, **kwargs)
            tensors[f"{name}.final_norm"] = torch.stack(recorder.states).contiguous()
            records.append({"name": name, "profile": profile, "prompt_tokens": ids.tolist(),
                            "attention_mask": mask.tolist(), "canvases": canvases, "output": out.tolist()})

    save_file(tensors, str(OUT / "dream.safetensors"))
    meta = {"reference": sources["dream"], "patches": patches, "torch": torch.__version__,
            "transformers": importlib.import_module("transformers").__version__, "ids": DREAM_IDS,
            "checkpoint_sha256": sha256(folder / "model.safetensors"), "forward": forward_record,
            "cases": records}
    (OUT / "dream.json").write_text(json.dumps(meta, separators=(",", ":")) + "\n")


def main():
    args = parse_args()
    reference = pathlib.Path(args.reference)
    sources = json.loads((reference / "SOURCES.json").read_text())
    for family in ("llada", "dream"):
        for entry in sources[family]:
            entry["sha256_used"] = sha256(reference / family / pathlib.Path(entry["path"]).name)
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    run_llada(reference, sources)
    run_dream(reference, sources)


if __name__ == "__main__":
    main()
