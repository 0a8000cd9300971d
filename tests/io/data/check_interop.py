#!/usr/bin/env python3
"""Check that files written by sri's C++ writers load in Python's torch and safetensors.

    mkdir -p /tmp/interop
    SRI_IO_INTEROP_DIR=/tmp/interop build/tests/io/io_torch_pt_test --no-skip -tc="torch files for Python check"
    SRI_IO_INTEROP_DIR=/tmp/interop build/tests/io/io_centers_file_test --no-skip -tc="centers files for Python check"
    python tests/io/data/check_interop.py /tmp/interop      # run with each torch version to check

Exits non-zero on the first mismatch; values are compared exactly.
"""
import pathlib
import sys

import torch


def main() -> None:
    folder = pathlib.Path(sys.argv[1])
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.125 - 0.5
    checked = []
    for suffix, dtype in (("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16)):
        harmless, harmful = torch.load(folder / f"cpp_centers_{suffix}.pt", map_location="cpu")
        assert harmless.dtype == dtype, harmless.dtype
        assert harmful.dtype == dtype, harmful.dtype
        assert torch.equal(harmless, base.to(dtype)), suffix
        assert torch.equal(harmful, (-2 * base + 1).to(dtype)), suffix
        checked.append(f"cpp_centers_{suffix}.pt")
    listed = torch.load(folder / "cpp_list.pt", map_location="cpu")
    assert isinstance(listed, tuple), type(listed)
    assert len(listed) == 3, len(listed)
    assert torch.equal(listed[0], base)
    assert torch.equal(listed[1], base.to(torch.float16))
    assert listed[2].shape == (0, 4)
    checked.append("cpp_list.pt")

    centers = folder / "cpp_centers.safetensors"
    try:
        from safetensors import safe_open
    except ImportError:
        safe_open = None
        print("safetensors is not installed here: skipping", centers.name)
    if centers.exists() and safe_open is not None:
        with safe_open(str(centers), framework="pt") as handle:
            metadata = handle.metadata()
            assert metadata["format"] == "sri.centers", metadata
            assert torch.equal(handle.get_tensor("harmless"), base)
            assert torch.equal(handle.get_tensor("harmful"), -2 * base + 1)
            assert handle.get_tensor("state.harmful_refused.runs").item() == 2
        checked.append(centers.name)
    print(f"torch {torch.__version__}: loaded and matched {', '.join(checked)}")


if __name__ == "__main__":
    main()
