#!/usr/bin/env python3
"""Oracle files for the real-model GGUF tests, written next to the model.

Usage:
    /tmp/venv/bin/python tests/real/gguf_oracle.py MODELS_DIR

MODELS_DIR must hold smollm2-135m-q4_1.gguf (SmolLM2-135M-Instruct, Q4_1/Q8_0/F32 tensors; in CI
the fetched models live in <workspace>/target/test-models, the directory the Rust tests read
through MODELDIFF_TEST_MODELS). Needs gguf-py 0.19.0 and numpy. The script writes, into
MODELS_DIR:

  smollm2-135m-q4_1.oracle.json         tensor count and, per tensor, ggml type name and
                                        row-major shape (GGUFReader `shape` reversed)
  smollm2-135m-q4_1.oracle.safetensors  full gguf.quants.dequantize values (f32) of one Q4_1,
                                        one Q8_0 and one F32 tensor (read by
                                        crates/formats/tests/gguf_real.rs)
  smollm2-135m-q8_0.gguf                the same model with every quantized tensor requantized
                                        to Q8_0 (dequantize -> gguf.quants.quantize Q8_0); F32
                                        tensors stay F32, metadata is copied
                                        (general.file_type set to 7, MOSTLY_Q8_0)
  smollm2-q4_1-vs-q8_0.oracle.json      numpy float64 metrics of A = Q4_1 dequant vs
                                        B = Q8_0 dequant: per tensor l2, max_abs, mean_abs,
                                        rmse, cosine, norm_a, norm_b (cosine is null when a
                                        norm is 0), plus global_l2 and global_cosine over all
                                        elements, for the engine's integration tests
"""
import json
import pathlib
import sys

import numpy as np
from gguf import GGUFReader, GGUFWriter, GGUFValueType, GGMLQuantizationType as T
from gguf import quants
from safetensors.numpy import save_file

SRC = "smollm2-135m-q4_1.gguf"


def row_major(t):
    return [int(d) for d in reversed(t.shape.tolist())]


def dequant(t):
    return np.asarray(quants.dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(row_major(t))


def metrics(a, b):
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    d = a - b
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    dot = float(np.dot(a, b))
    return {
        "l2": float(np.linalg.norm(d)),
        "max_abs": float(np.max(np.abs(d))) if d.size else 0.0,
        "mean_abs": float(np.mean(np.abs(d))) if d.size else 0.0,
        "rmse": float(np.sqrt(np.mean(d * d))) if d.size else 0.0,
        "cosine": dot / (na * nb) if na > 0 and nb > 0 else None,
        "norm_a": na,
        "norm_b": nb,
        "elements": int(a.size),
    }, (float(np.dot(d, d)), dot, na * na, nb * nb)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    models = pathlib.Path(sys.argv[1])
    src = models / SRC
    r = GGUFReader(src)

    # 1. listing and a few full tensors
    listing = {
        "file": SRC,
        "tensor_count": len(r.tensors),
        "tensors": [
            {"name": t.name, "dtype": t.tensor_type.name, "shape": row_major(t)} for t in r.tensors
        ],
    }
    (models / "smollm2-135m-q4_1.oracle.json").write_text(json.dumps(listing, indent=1))
    picked = {}
    for want in (T.Q4_1, T.Q8_0, T.F32):
        cands = [t for t in r.tensors if t.tensor_type == want]
        if not cands:
            continue
        t = max(cands, key=lambda t: (t.n_elements <= 1_000_000, t.n_elements))
        picked[t.name] = dequant(t)
    save_file(picked, str(models / "smollm2-135m-q4_1.oracle.safetensors"))

    # 2. requantize to Q8_0
    out = models / "smollm2-135m-q8_0.gguf"
    arch = str(r.fields["general.architecture"].contents())
    w = GGUFWriter(out, arch)
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        val = f.contents()
        if f.name == "general.file_type":
            val = 7
        sub = f.types[-1] if f.types[0] == GGUFValueType.ARRAY else None
        w.add_key_value(f.name, val, f.types[0], sub_type=sub)
    deq_a, deq_b = {}, {}
    for t in r.tensors:
        a = dequant(t)
        deq_a[t.name] = a
        if t.tensor_type == T.F32:
            w.add_tensor(t.name, a)
        else:
            q = quants.quantize(a, T.Q8_0)
            w.add_tensor(t.name, q, raw_dtype=T.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # 3. metrics of the Q4_1 model against its Q8_0 requantization, read back from disk
    rb = GGUFReader(out)
    per, tot = {}, np.zeros(4)
    for t in rb.tensors:
        m, sums = metrics(deq_a[t.name], dequant(t))
        per[t.name] = m
        tot += sums
    oracle = {
        "a": SRC,
        "b": out.name,
        "tensors": per,
        "global_l2": float(np.sqrt(tot[0])),
        "global_cosine": float(tot[1] / np.sqrt(tot[2] * tot[3])),
    }
    (models / "smollm2-q4_1-vs-q8_0.oracle.json").write_text(json.dumps(oracle, indent=1))
    print(f"wrote oracles for {len(r.tensors)} tensors into {models}")


if __name__ == "__main__":
    main()
