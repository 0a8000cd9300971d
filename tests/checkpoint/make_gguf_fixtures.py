#!/usr/bin/env python3
"""Write the GGUF test fixture and its expected dequantized values.

Outputs, next to this script in data/:
  quant_types.gguf           one tensor per supported ggml type and an IQ2_XXS tensor that sri
                             cannot dequantize, plus metadata of every GGUF value type. Blocks are
                             random and non-zero with finite f16 scales, several per row;
  quant_types.expected.bin   the values gguf-py's `gguf.quants.dequantize` returns for each tensor,
                             as little-endian float32, concatenated;
  quant_types.expected.json  name, ggml type, PyTorch shape and float offset of each tensor in the
                             .bin file, plus the reference versions.

Run with the reference venv (gguf, numpy): /opt/sri-ref/bin/python tests/checkpoint/make_gguf_fixtures.py
Re-running overwrites the files; the seed is fixed, so the output only changes with gguf-py.
"""

import importlib.metadata
import json
import pathlib

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

SEED = 20261204
OUT = pathlib.Path(__file__).resolve().parent / "data"

# Byte offsets of the f16 scale fields inside one block, per type (ggml-common.h block structs).
HALF_FIELDS = {
    T.Q8_0: [0],
    T.Q4_0: [0],
    T.Q4_1: [0, 2],
    T.Q5_0: [0],
    T.Q5_1: [0, 2],
    T.Q4_K: [0, 2],
    T.Q5_K: [0, 2],
    T.Q6_K: [208],
    T.IQ2_XXS: [0],
}

# (name, type, PyTorch shape). Rows hold 2 or 3 blocks, so block boundaries inside a row are tested.
TENSORS = [
    ("f32_matrix", T.F32, (3, 20)),
    ("f16_cube", T.F16, (2, 3, 8)),
    ("bf16_matrix", T.BF16, (4, 12)),
    ("q8_0_matrix", T.Q8_0, (3, 96)),
    ("q4_0_matrix", T.Q4_0, (3, 96)),
    ("q4_1_matrix", T.Q4_1, (3, 96)),
    ("q5_0_matrix", T.Q5_0, (3, 96)),
    ("q5_1_matrix", T.Q5_1, (3, 96)),
    ("q4_k_matrix", T.Q4_K, (3, 512)),
    ("q5_k_matrix", T.Q5_K, (2, 768)),
    ("q6_k_matrix", T.Q6_K, (3, 512)),
    ("q4_k_cube", T.Q4_K, (2, 2, 256)),
]
UNSUPPORTED = ("iq2_xxs_matrix", T.IQ2_XXS, (2, 256))


def random_blocks(rng, qtype, shape):
    """Random block bytes of `qtype` for a tensor of `shape`, with sane f16 scales patched in."""
    block_elements, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    rows = int(np.prod(shape[:-1]))
    blocks_per_row = shape[-1] // block_elements
    raw = rng.integers(0, 256, size=(rows * blocks_per_row, block_bytes), dtype=np.uint8)
    for offset in HALF_FIELDS[qtype]:
        magnitudes = rng.uniform(0.002, 0.05, size=raw.shape[0])
        signs = rng.choice([-1.0, 1.0], size=raw.shape[0])
        halves = (magnitudes * signs).astype(np.float16)
        raw[:, offset:offset + 2] = halves.view(np.uint8).reshape(-1, 2)
    return raw.reshape(*shape[:-1], blocks_per_row * block_bytes)


def tensor_bytes(rng, qtype, shape):
    """The stored bytes of one tensor, shaped as gguf-py expects for a raw tensor."""
    if qtype == T.F32:
        return rng.standard_normal(shape).astype(np.float32)
    if qtype == T.F16:
        return rng.standard_normal(shape).astype(np.float16)
    if qtype == T.BF16:
        values = rng.standard_normal(shape).astype(np.float32)
        # Keep the upper 16 bits of each float32: that is the stored bfloat16.
        upper = (values.view(np.uint32) >> 16).astype(np.uint16)
        return upper.view(np.uint8).reshape(*shape[:-1], shape[-1] * 2)
    return random_blocks(rng, qtype, shape)


def add_metadata(writer):
    """One key per GGUF value type, including an array of arrays."""
    V = gguf.GGUFValueType
    writer.add_key_value("test.uint8", 200, V.UINT8)
    writer.add_key_value("test.int8", -100, V.INT8)
    writer.add_key_value("test.uint16", 60000, V.UINT16)
    writer.add_key_value("test.int16", -30000, V.INT16)
    writer.add_key_value("test.uint32", 4000000000, V.UINT32)
    writer.add_key_value("test.int32", -2000000000, V.INT32)
    writer.add_key_value("test.float32", 0.25, V.FLOAT32)
    writer.add_key_value("test.bool_true", True, V.BOOL)
    writer.add_key_value("test.bool_false", False, V.BOOL)
    writer.add_key_value("test.string", "Führer 🙂 text", V.STRING)
    writer.add_key_value("test.empty_string", "", V.STRING)
    writer.add_key_value("test.uint64", 18000000000000000000, V.UINT64)
    writer.add_key_value("test.int64", -9000000000000000000, V.INT64)
    writer.add_key_value("test.float64", -1.0e-300, V.FLOAT64)
    writer.add_key_value("test.int_array", [1, -2, 3], V.ARRAY, sub_type=V.INT32)
    writer.add_key_value("test.float_array", [0.5, -1.5], V.ARRAY, sub_type=V.FLOAT32)
    writer.add_key_value("test.string_array", ["a", "", "ü c"], V.ARRAY)
    writer.add_key_value("test.nested_array", [[1, 2], [3]], V.ARRAY)


def main():
    rng = np.random.default_rng(SEED)
    OUT.mkdir(exist_ok=True)
    gguf_path = OUT / "quant_types.gguf"

    writer = gguf.GGUFWriter(str(gguf_path), arch="llama")
    writer.add_custom_alignment(64)
    add_metadata(writer)

    manifest = []
    expected = []
    offset = 0
    for name, qtype, shape in TENSORS + [UNSUPPORTED]:
        data = tensor_bytes(rng, qtype, shape)
        raw_dtype = None if qtype in (T.F32, T.F16) else qtype
        writer.add_tensor(name, data, raw_dtype=raw_dtype)
        if (name, qtype, shape) == UNSUPPORTED:
            continue
        values = dequantize(data, qtype).astype(np.float32)
        assert values.shape == shape, (name, values.shape, shape)
        assert np.isfinite(values).all(), name
        assert np.count_nonzero(values) > values.size // 2, name
        manifest.append({"name": name, "type": qtype.name, "type_code": int(qtype), "shape": list(shape),
                         "offset": offset, "count": int(values.size)})
        expected.append(values.reshape(-1))
        offset += values.size

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    np.concatenate(expected).astype("<f4").tofile(OUT / "quant_types.expected.bin")
    info = {
        "reference": "gguf.quants.dequantize",
        "gguf_version": importlib.metadata.version("gguf"),
        "numpy_version": np.__version__,
        "seed": SEED,
        "alignment": 64,
        "unsupported_tensor": {"name": UNSUPPORTED[0], "type": UNSUPPORTED[1].name,
                               "type_code": int(UNSUPPORTED[1])},
        "tensors": manifest,
    }
    (OUT / "quant_types.expected.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"wrote {gguf_path} ({gguf_path.stat().st_size} bytes), {offset} expected values")


if __name__ == "__main__":
    main()
