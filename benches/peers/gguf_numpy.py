"""Peer for `cargo xtask bench`: diff two GGUF files with gguf-py (GGUFReader + its numpy
dequantization) and float64 numpy metrics per tensor. Usage: A B"""
import sys

from gguf import GGUFReader
from gguf.quants import dequantize

from metrics import emit, metrics


def main(pa, pb):
    ra, rb = GGUFReader(pa), GGUFReader(pb)
    tb = {t.name: t for t in rb.tensors}
    rows = {}
    for ta in ra.tensors:
        t = tb.get(ta.name)
        if t is not None:
            rows[ta.name] = metrics(dequantize(ta.data, ta.tensor_type),
                                    dequantize(t.data, t.tensor_type))
    emit(rows)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
