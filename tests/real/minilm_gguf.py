#!/usr/bin/env python3
"""A real cross-format pair for the drift tests: MiniLM-L6-v2 converted to a Q8_0 GGUF.

Usage:
    target/venv/bin/python tests/real/minilm_gguf.py MODELS_DIR

Reads MODELS_DIR/minilm-l6-v2.safetensors (HF names) and writes, into MODELS_DIR:

  minilm-l6-v2-q8_0.gguf        architecture `bert`, tensor names from gguf-py's own
                                TensorNameMap (not modeldiff's tables), 2-D tensors whose rows
                                are a multiple of 32 quantized to Q8_0 with gguf.quants, the
                                rest F32; tensors gguf-py has no name for (position_ids,
                                pooler) are left out, as llama.cpp's converter does
  minilm-l6-v2-q8_0.oracle.json per HF tensor: the GGUF name, its type, and numpy float64
                                nmse, cosine, max_abs and max_abs_index of A = the SafeTensors
                                values against B = the dequantized GGUF values
"""
import json
import pathlib
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from safetensors.numpy import load_file


def main(models: pathlib.Path) -> None:
    src = load_file(str(models / "minilm-l6-v2.safetensors"))
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, 6)
    w = gguf.GGUFWriter(str(models / "minilm-l6-v2-q8_0.gguf"), "bert")
    w.add_block_count(6)
    w.add_embedding_length(384)
    w.add_head_count(12)
    oracle = {}
    for hf, a in src.items():
        name = names.get_name(hf, try_suffixes=(".weight", ".bias"))
        if name is None or a.dtype != np.float32:
            print("left out:", hf, file=sys.stderr)
            continue
        if a.ndim == 2 and a.shape[1] % 32 == 0:
            q = gguf.quants.quantize(a, Q.Q8_0)
            w.add_tensor(name, q, raw_dtype=Q.Q8_0)
            b = gguf.quants.dequantize(q, Q.Q8_0).astype(np.float64)
            kind = "Q8_0"
        else:
            w.add_tensor(name, a)
            b = a.astype(np.float64)
            kind = "F32"
        a64 = a.astype(np.float64)
        d = a64 - b
        sa = float(np.sum(a64 * a64))
        flat = int(np.argmax(np.abs(d)))
        oracle[hf] = {
            "name_b": name,
            "dtype_b": kind,
            "nmse": float(np.sum(d * d)) / sa if sa > 0 else None,
            "cosine": float(np.sum(a64 * b) / np.sqrt(sa * np.sum(b * b))) if sa > 0 else None,
            "max_abs": float(np.max(np.abs(d))),
            "max_abs_index": [int(x) for x in np.unravel_index(flat, a.shape)],
        }
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    (models / "minilm-l6-v2-q8_0.oracle.json").write_text(json.dumps(oracle, indent=1, sort_keys=True))


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
