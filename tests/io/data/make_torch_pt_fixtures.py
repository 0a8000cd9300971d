#!/usr/bin/env python3
"""Write the torch.save fixtures of tests/io and the golden summary of the reference centers files.

Run with a Python that has torch (the venv /opt/sri-ref has torch 2.x, Debian's python3 has 1.13):
    python tests/io/data/make_torch_pt_fixtures.py [--shared-data ../shared/data]
Outputs beside this script:
  centers_f32.pt, centers_f16.pt, centers_bf16.pt   tuples (harmless, harmful) of [3, 4] tensors
  activations_list.pt      list of three [T, 4] float32 tensors, two of them views into one storage
  activations_dict.pt      dict name -> [T, 4] tensor (float16), insertion order kept
  activations.safetensors  three [2, 4] bfloat16 tensors saved by safetensors.torch.save_file; the
                           expected file records the order of the header as written
  torch_pt.expected.json   every value of the fixtures above, as Python floats
  reference_centers.golden.json   for each real reference centers file: dtype, shape, the first and
                                  last rows, a few sampled entries and float64 sums per row
"""
import argparse
import json
import pathlib
import struct

import safetensors
import torch
from safetensors.torch import save_file

HERE = pathlib.Path(__file__).resolve().parent


def values(t: torch.Tensor) -> list:
    return t.to(torch.float64).flatten().tolist()


def make_fixtures() -> dict:
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.125 - 0.5
    expected = {"reference": f"torch {torch.__version__}, safetensors {safetensors.__version__}", "files": {}}
    for suffix, dtype in (("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16)):
        harmless = base.to(dtype)
        harmful = (-2.0 * base + 1.0).to(dtype)
        torch.save((harmless, harmful), HERE / f"centers_{suffix}.pt")
        expected["files"][f"centers_{suffix}.pt"] = {
            "kind": "tuple", "dtype": str(dtype).removeprefix("torch."),
            "tensors": [{"shape": list(t.shape), "values": values(t)} for t in (harmless, harmful)]}

    # A user who slices one big activations tensor saves views that share one storage, with offsets.
    stacked = torch.arange(2 * 5 * 4, dtype=torch.float32).reshape(2, 5, 4) / 8.0
    listed = [stacked[0], stacked[1, 1:4], torch.full((2, 4), -1.5)]
    torch.save(listed, HERE / "activations_list.pt")
    expected["files"]["activations_list.pt"] = {
        "kind": "list", "dtype": "float32",
        "tensors": [{"shape": list(t.shape), "values": values(t)} for t in listed]}

    named = {"second": torch.linspace(-1, 1, 8).reshape(2, 4).to(torch.float16),
             "first": torch.ones(3, 4, dtype=torch.float16) * 0.5}
    torch.save(named, HERE / "activations_dict.pt")
    expected["files"]["activations_dict.pt"] = {
        "kind": "dict", "dtype": "float16",
        "tensors": [{"name": k, "shape": list(t.shape), "values": values(t)} for k, t in named.items()]}

    per_prompt = {f"prompt_{i:03d}": (torch.arange(8, dtype=torch.float32).reshape(2, 4) * (i + 1) / 4).to(torch.bfloat16)
                  for i in (2, 0, 1)}
    save_file(per_prompt, str(HERE / "activations.safetensors"))
    raw = (HERE / "activations.safetensors").read_bytes()
    header = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
    expected["files"]["activations.safetensors"] = {
        "kind": "safetensors", "dtype": "bfloat16",
        "tensors": [{"name": k, "shape": list(per_prompt[k].shape), "values": values(per_prompt[k])}
                    for k in header if k != "__metadata__"]}
    return expected


def summarize_reference(shared: pathlib.Path) -> dict:
    golden = {"reference": f"torch {torch.__version__}", "files": {}}
    for name in ("sri-signal_llama3-8b_centers.pt", "sri-signal_llada-8b_centers.pt"):
        harmless, harmful = torch.load(shared / "reference" / name, map_location="cpu")
        entry = {"dtype": str(harmless.dtype).removeprefix("torch."), "tensors": []}
        for t in (harmless, harmful):
            t64 = t.to(torch.float64)
            sampled = [[i, j, t64[i, j].item()] for i, j in ((0, 0), (5, 17), (31, 4095), (16, 2048), (7, 1000))]
            entry["tensors"].append({"shape": list(t.shape), "first_row": t64[0].tolist()[:16],
                                     "last_row": t64[-1].tolist()[-16:], "sampled": sampled,
                                     "row_sums": t64.sum(dim=1).tolist()})
        golden["files"][name] = entry
    return golden


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared-data", type=pathlib.Path, default=HERE.parents[3] / "shared" / "data")
    args = parser.parse_args()
    (HERE / "torch_pt.expected.json").write_text(json.dumps(make_fixtures(), indent=1) + "\n")
    (HERE / "reference_centers.golden.json").write_text(json.dumps(summarize_reference(args.shared_data), indent=1) + "\n")


if __name__ == "__main__":
    main()
