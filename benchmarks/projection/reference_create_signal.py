#!/usr/bin/env python3
"""Time the reference Python signal computation on the benchmark's shapes; print JSON.

The loop reproduces the structure of create_signal and cosine_dist from the reference
(ElironRahimi/sri-signal, SRI_alg.py, commit 716ccdc): a Python list of [T, D] tensors, one loop
over prompts and one over steps, two cosine distances, log ratio, sigmoid and .item() per step.
It runs in float32 with PyTorch's default thread count (Debian python3-torch 1.13). The data are
standard normal activations and centers of the same shapes as the C++ benchmark (the values do
not change the work done). Usage:

    /usr/bin/python3 benchmarks/projection/reference_create_signal.py [--prompts 1000]
"""

import argparse
import json
import platform
import time

import torch

STEPS = 32
SIG_T = 0.1
EPS = 1e-8


def cosine_distance(x, y, eps=EPS):
    x_unit = x / (x.norm() + eps)
    y_unit = y / (y.norm() + eps)
    return 1.0 - torch.dot(x_unit, y_unit)


def reference_signal(centers, activations, sig_t=SIG_T, eps=EPS):
    harmless, harmful = centers
    signals = []
    for prompt in activations:
        values = []
        for t in range(prompt.shape[0]):
            d_harmless = cosine_distance(prompt[t], harmless[t], eps)
            d_harmful = cosine_distance(prompt[t], harmful[t], eps)
            logit = (torch.log(d_harmful + eps) - torch.log(d_harmless + eps)) / sig_t
            values.append(torch.sigmoid(logit).item())
        signals.append(torch.tensor(values))
    return signals


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1000, help="number of prompts N")
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(0)
    results = []
    for hidden in (576, 4096):
        centers = (torch.randn(STEPS, hidden, generator=generator), torch.randn(STEPS, hidden, generator=generator))
        activations = list(torch.randn(args.prompts, STEPS, hidden, generator=generator).unbind(0))
        start = time.perf_counter()
        signals = reference_signal(centers, activations)
        seconds = time.perf_counter() - start
        assert len(signals) == args.prompts
        assert signals[0].shape == (STEPS,)
        results.append({
            "hidden": hidden,
            "prompts": args.prompts,
            "steps": STEPS,
            "seconds": seconds,
            "bytes_per_second": args.prompts * STEPS * hidden * 4 / seconds,
        })
    print(json.dumps({
        "script": "benchmarks/projection/reference_create_signal.py",
        "reference": "ElironRahimi/sri-signal SRI_alg.create_signal (commit 716ccdc), same loop structure",
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
