"""Peer for `cargo xtask bench`: diff two SafeTensors files with safetensors + numpy (float64
metrics per tensor, BF16 through ml_dtypes when numpy lacks it). Usage: A B"""
import sys

import ml_dtypes  # noqa: F401  (registers bfloat16 with numpy for safetensors)
import numpy as np
from safetensors import safe_open

from metrics import emit, metrics


def main(pa, pb):
    rows = {}
    with safe_open(pa, framework="np") as fa, safe_open(pb, framework="np") as fb:
        for name in fa.keys():
            if name in fb.keys():
                rows[name] = metrics(fa.get_tensor(name), fb.get_tensor(name))
    emit(rows)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
