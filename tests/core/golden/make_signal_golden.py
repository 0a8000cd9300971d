#!/usr/bin/env python3
"""Write signal_golden.json: random activations and centers with their expected SRI signals.

The expected values are computed in float64 with PyTorch from the reference formula
(ElironRahimi/sri-signal, SRI_alg.create_signal and cosine_dist, commit 716ccdc), reimplemented
here step by step: for each prompt and step, the distances to the two step centers, then
sigmoid((log(d_harmful + eps) - log(d_harmless + eps)) / sig_T). The other metrics of the
library are computed the same way with their textbook formulas. Inputs are rounded to float32
first, so the C++ side reads exactly the values that were scored. Run from the repository root:

    /usr/bin/python3 tests/core/golden/make_signal_golden.py > tests/core/golden/signal_golden.json

Deterministic (seeded); Debian's python3-torch 1.13 produced the committed file.
"""

import json
import math
import sys

import torch

SIG_T = 0.1
EPS = 1e-8


def cosine(x, y):
    return 1.0 - torch.dot(x / (x.norm() + EPS), y / (y.norm() + EPS))


def angular(x, y):
    similarity = torch.dot(x / (x.norm() + EPS), y / (y.norm() + EPS))
    return torch.arccos(similarity.clamp(-1.0, 1.0)) / math.pi


def euclidean(x, y):
    return (x - y).norm()


def squared_euclidean(x, y):
    return ((x - y) ** 2).sum()


def manhattan(x, y):
    return (x - y).abs().sum()


METRICS = {
    "cosine": cosine,
    "angular": angular,
    "euclidean": euclidean,
    "squared_euclidean": squared_euclidean,
    "manhattan": manhattan,
}


def signal(distance, activations, harmless, harmful):
    """One [T] signal per prompt; activations is [N, T, D], centers [T, D], all float64."""
    out = []
    for prompt in activations:
        values = []
        for t in range(prompt.shape[0]):
            d_harmless = distance(prompt[t], harmless[t])
            d_harmful = distance(prompt[t], harmful[t])
            logit = (torch.log(d_harmful + EPS) - torch.log(d_harmless + EPS)) / SIG_T
            values.append(torch.sigmoid(logit).item())
        out.append(values)
    return out


def make_case(generator, name, prompts, steps, hidden, spread):
    # Centers share a common direction so distances are comparable and sigmas spread over (0, 1).
    base = torch.randn(steps, hidden, generator=generator)
    harmless = base + spread * torch.randn(steps, hidden, generator=generator)
    harmful = base + spread * torch.randn(steps, hidden, generator=generator)
    mix = 0.35 + 0.3 * torch.rand(prompts, steps, 1, generator=generator)
    activations = (mix * harmless + (1 - mix) * harmful
                   + 0.5 * spread * torch.randn(prompts, steps, hidden, generator=generator))
    harmless, harmful, activations = (t.float() for t in (harmless, harmful, activations))

    case = {
        "name": name,
        "prompts": prompts,
        "steps": steps,
        "hidden": hidden,
        "harmless": harmless.flatten().tolist(),
        "harmful": harmful.flatten().tolist(),
        "activations": activations.flatten().tolist(),
        "expected": {},
    }
    for metric, distance in METRICS.items():
        case["expected"][metric] = signal(distance, activations.double(), harmless.double(), harmful.double())
    return case


def main():
    generator = torch.Generator().manual_seed(20260204)
    cases = [
        make_case(generator, "small", 3, 4, 7, 0.7),
        make_case(generator, "one_step_one_dim", 4, 1, 1, 1.0),
        make_case(generator, "crosses_accumulation_block", 2, 3, 260, 0.5),
        make_case(generator, "thirty_two_steps", 1, 32, 16, 0.8),
    ]
    json.dump({
        "generator": "tests/core/golden/make_signal_golden.py",
        "reference": "ElironRahimi/sri-signal SRI_alg.create_signal (commit 716ccdc), reimplemented in float64",
        "torch": torch.__version__,
        "sig_t": SIG_T,
        "eps": EPS,
        "cases": cases,
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
