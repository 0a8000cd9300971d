#!/usr/bin/env python3
"""Write the safetensors fixtures of tests/io with the reference Python `safetensors` package.

Run with the venv that has torch and safetensors (for example /opt/sri-ref/bin/python):
    python tests/io/data/make_safetensors_fixtures.py
It rewrites mixed.safetensors and mixed.expected.json beside this script. The expected file stores
every value as Python floats or ints (exact for all dtypes used), plus the package versions.
"""
import json
import pathlib

import safetensors
import torch
from safetensors.torch import save_file

HERE = pathlib.Path(__file__).resolve().parent


def main() -> None:
    tensors = {
        # Values exactly representable in every float dtype used, so the comparison can be exact.
        "weights.f32": (torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.25 - 1.0),
        "weights.f16": (torch.arange(6, dtype=torch.float32).reshape(2, 3) * -0.5).to(torch.float16),
        "weights.bf16": (torch.arange(8, dtype=torch.float32).reshape(2, 2, 2) * 1.5 + 3.0).to(torch.bfloat16),
        "weights.f64": torch.tensor([1.0 / 3.0, -2.5e-300, 7.0], dtype=torch.float64),
        "ids.i64": torch.tensor([[-(2**40), 0, 5]], dtype=torch.int64),
        "ids.i32": torch.tensor([-7, 2**30], dtype=torch.int32),
        "flags.u8": torch.tensor([0, 255, 17], dtype=torch.uint8),
        "flags.bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(42.0),
        "empty": torch.zeros(0, 3),
    }
    metadata = {"producer": "make_safetensors_fixtures.py", "note": "quote \" and unicode é"}
    save_file(tensors, str(HERE / "mixed.safetensors"), metadata=metadata)

    expected = {
        "reference": f"safetensors {safetensors.__version__}, torch {torch.__version__}",
        "metadata": metadata,
        "tensors": {
            name: {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
                   "values": t.to(torch.float64 if t.is_floating_point() else torch.int64).flatten().tolist()}
            for name, t in tensors.items()
        },
    }
    (HERE / "mixed.expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
