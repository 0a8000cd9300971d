#!/usr/bin/env python3
"""Prefill and decode tokens/s of Hugging Face transformers on the same GGUF weights as
sri_decode_bench: float32 (transformers dequantizes the file), CPU, greedy, batch 1, KV cache.

    /opt/sri-ref/bin/python benchmarks/decode/hf_decode_bench.py MODEL.gguf --threads 2

Prints one JSON object in the format of sri_decode_bench, plus the library versions.
"""

import argparse
import json
import pathlib
import time

import torch
import transformers
from transformers import AutoModelForCausalLM


def peak_resident_mib():
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return -1.0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=pathlib.Path, help="GGUF file")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model.parent, gguf_file=args.model.name,
                                                 dtype=torch.float32).eval()
    load_seconds = time.perf_counter() - start
    prompt = torch.arange(1000, 1000 + args.prompt_tokens).view(1, -1)

    best_prefill = best_decode = float("inf")
    with torch.inference_mode():
        for _ in range(args.repeats):
            start = time.perf_counter()
            out = model(prompt, use_cache=True)
            best_prefill = min(best_prefill, time.perf_counter() - start)
            past = out.past_key_values
            start = time.perf_counter()
            for _ in range(args.decode_tokens):
                token = out.logits[:, -1].argmax(-1).view(1, 1)
                out = model(token, past_key_values=past, use_cache=True)
                past = out.past_key_values
            best_decode = min(best_decode, time.perf_counter() - start)

    print(json.dumps({"implementation": "transformers", "transformers_version": transformers.__version__,
                      "torch_version": torch.__version__, "threads": args.threads,
                      "prompt_tokens": args.prompt_tokens, "decode_tokens": args.decode_tokens,
                      "load_seconds": round(load_seconds, 3),
                      "prefill_tokens_per_second": round(args.prompt_tokens / best_prefill, 2),
                      "decode_tokens_per_second": round(args.decode_tokens / best_decode, 2),
                      "peak_resident_mib": round(peak_resident_mib(), 1)}))


if __name__ == "__main__":
    main()
