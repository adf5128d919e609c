"""Writes the committed seed corpora of the fuzz targets into fuzz/seeds/<target>/.

Run from the repository root: `python3 fuzz/gen_seeds.py`. Standard library only; the file
builders live in tests/hostile/modelfiles.py (shared with the hostile corpus). Seeds are small
valid files of every layout a target parses, so the fuzzer starts deep inside each parser.
"""

import json
import os
import random
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "hostile"))
import modelfiles as mf  # noqa: E402

rng = random.Random(20261203)


def rb(n):
    return bytes(rng.randrange(256) for _ in range(n))


def vals(n):
    return [rng.uniform(-2, 2) for _ in range(n)]


def safetensors_seeds():
    yield "f32", mf.safetensors([("w", "F32", [2, 3], mf.f32s(vals(6)))])
    yield "mixed", mf.safetensors([
        ("a", "F16", [7], rb(14)), ("b", "BF16", [3, 1], rb(6)), ("c", "I64", [2], rb(16)),
        ("d", "BOOL", [5], bytes([0, 1, 1, 0, 1])), ("e", "F8_E4M3", [4], rb(4)),
        ("f", "F64", [], rb(8)), ("g", "U8", [0], b""), ("h", "I16", [3], rb(6)),
    ], metadata={"format": "pt", "k": "v"})
    yield "f8e5m2-u32", mf.safetensors([("x", "F8_E5M2", [33], rb(33)),
                                        ("y", "U32", [2, 2], rb(16))])
    # Every form of entry the safetensors crate reads (and so the one-pass header reader): an
    # entry as an array, a dtype as a one-key object, unknown fields, null metadata, entries out
    # of offset order, zero-sized tensors sharing an offset. No rng: the other seeds stay put.
    yield "forms", mf.safetensors_raw(
        b'{"__metadata__":null,"c":["U8",[2],[4,6]],'
        b'"b":{"x":[1,{"y":null}],"dtype":{"I16":null},"shape":[2],"data_offsets":[0,4]},'
        b'"z1":{"dtype":"F32","shape":[0],"data_offsets":[6,6]},'
        b'"z0":{"dtype":"F16","shape":[3,0],"data_offsets":[6,6]}}',
        bytes(range(6)))


def index_seeds():
    wm = {"a.weight": "model-00001-of-00002.safetensors",
          "b.weight": "model-00002-of-00002.safetensors",
          "c": "sub/./model-00002-of-00002.safetensors"}
    yield "index", json.dumps({"metadata": {"total_size": 123}, "weight_map": wm}).encode()
    yield "index-min", b'{"weight_map":{"x":"m.safetensors"}}'


def gguf_seeds():
    for big in (False, True):
        g = mf.Gguf(big=big)
        kvs = [("general.architecture", mf.GGUF_STRING, "llama"),
               ("general.alignment", mf.GGUF_U32, 32),
               ("a.u8", mf.GGUF_U8, 7), ("a.i16", mf.GGUF_I16, -3), ("a.f32", mf.GGUF_F32, 0.5),
               ("a.bool", mf.GGUF_BOOL, 1), ("a.u64", mf.GGUF_U64, 1 << 40),
               ("a.f64", mf.GGUF_F64, 1.25),
               ("a.arr", mf.GGUF_ARRAY, (mf.GGUF_STRING, ["x", "yz"])),
               ("a.nested", mf.GGUF_ARRAY, (mf.GGUF_ARRAY, [(mf.GGUF_I32, [1, 2]),
                                                            (mf.GGUF_I32, [3])]))]
        tensors = [("f32", [3, 2], 0, rb(24)), ("f16", [5], 1, rb(10)),
                   ("q8_0", [64], 8, rb(68)), ("q4_0", [32], 2, rb(18)),
                   ("q4_k", [256], 12, rb(144)), ("q6_k", [256], 14, rb(210)),
                   ("i8", [3], 24, rb(3))]
        yield ("be" if big else "le"), g.file(kvs, tensors)
    # Every quant family, one block each (little-endian).
    g = mf.Gguf()
    ids = {3: (32, 20), 6: (32, 22), 7: (32, 24), 10: (256, 84), 11: (256, 110),
           13: (256, 176), 16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50),
           20: (32, 18), 21: (256, 110), 22: (256, 82), 23: (256, 136), 29: (256, 56),
           30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17)}
    tensors = [("t%d" % i, [be], i, rb(bb)) for i, (be, bb) in sorted(ids.items())]
    yield "quants", g.file([], tensors, alignment=32)
    g1 = mf.Gguf(version=1)
    yield "v1", g1.file([("k", mf.GGUF_STRING, "v")], [("w", [4], 0, rb(16))])
    yield "v2-align8", mf.Gguf(version=2).file([("general.alignment", mf.GGUF_U32, 8)],
                                               [("w", [4], 0, rb(16)), ("v", [2], 1, rb(4))],
                                               alignment=8)


def apr_seeds():
    tensors = [("a.f32", mf.APR_F32, [2, 3], mf.f32s(vals(6))),
               ("b.f16", mf.APR_F16, [5], rb(10)),
               ("c.bf16", mf.APR_BF16, [3], rb(6)),
               ("d.q8", mf.APR_Q8, [7], rb(4 + 7)),
               ("e.q4", mf.APR_Q4, [40], rb(36)),
               ("f.i64", mf.APR_I64, [2], rb(16)),
               ("g.q4k", mf.APR_Q4K, [256], rb(144))]
    plain = mf.aprender(tensors, metadata={"name": "seed", "n": [1, 2, {"x": None}]})
    yield "aprender", plain
    yield "aprender-nofooter", mf.aprender(tensors[:3], footer=False)
    yield "aprender-lz4", mf.apr_compressed(plain, "lz4")
    yield "aprender-zstd", mf.apr_compressed(plain, "zstd")
    yield "aprender-zstd-nosize", mf.apr_compressed(plain, "zstd", content_size=False)
    legacy = [("a", 0, [2], rb(8)), ("b", 2, [2], rb(4)), ("c", 9, [3], rb(7)),
              ("d", 8, [32], rb(18))]
    yield "apr2-legacy", mf.aprender(legacy, magic=b"APR2")
    ct = [("layer.w", [2, 2], mf.f32s(vals(4)), 0), ("layer.b", [3], rb(6), 1),
          ("q", [4], rb(4), 2)]
    yield "cookbook", mf.cookbook(ct)
    yield "cookbook-lz4", mf.cookbook(ct, compression=1)
    yield "cookbook-zstd-signed", mf.cookbook(ct, compression=2, signed=True)


def st_file(tensors, metadata=None):
    """A SafeTensors file of (name, dtype, shape, raw bytes), in order."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def payload_seeds():
    lora = {"kind": "lora", "adapters": [{"layer_id": 1, "matrix": "q_proj", "rank": 2,
            "in_dim": 3, "out_dim": 2, "a": vals(6), "b": vals(4)}]}
    ia3 = {"kind": "ia3", "scaling": {"0": {"k_proj": vals(4), "down_proj": vals(3)}}}
    full = {"kind": "full", "params": {"w": vals(5)},
            "exact": {"w": {"dtype": "BF16", "index": [1, 3], "bits": [16256, 65535]}}}
    ttt = {"kind": "in-place-ttt", "steps": [{"step_id": 2, "deltas": {"w": vals(3)}},
                                             {"step_id": 0, "deltas": {"w": vals(3)}}]}
    for name, part in [("lora", lora), ("ia3", ia3), ("full", full), ("ttt", ttt)]:
        yield f"{name}.json", json.dumps(part).encode()
    yield "payload.json", json.dumps({"schema": "model.diff.v1",
                                      "parts": [lora, full, ttt]}).encode()
    manifest = {"schema": "model.diff.v1", "parts": [
        {"kind": "lora", "adapters": [{"layer_id": 1, "matrix": "q_proj", "rank": 2, "in_dim": 3,
                                       "out_dim": 2, "a": "p0.lora.1.q_proj.a",
                                       "b": "p0.lora.1.q_proj.b"}]},
        {"kind": "full", "params": {"w": "p1.full.w"}}]}
    yield "container.safetensors", st_file(
        [("p0.lora.1.q_proj.a", "F32", [2, 3], mf.f32s(vals(6))),
         ("p0.lora.1.q_proj.b", "F32", [2, 2], mf.f32s(vals(4))),
         ("p1.full.w", "F32", [5], mf.f32s(vals(5)))],
        {"model.diff.v1": json.dumps(manifest)})


def peft_seeds():
    base = os.path.join(ROOT, "tests", "fixtures", "peft")
    for d in sorted(os.listdir(base)):
        cfg_path = os.path.join(base, d, "adapter_config.json")
        if not os.path.exists(cfg_path):
            continue
        cfg = open(cfg_path, "rb").read()
        weights = open(os.path.join(base, d, "adapter_model.safetensors"), "rb").read()
        if len(cfg) < 65536 and len(weights) < 65536:
            yield d, struct.pack("<H", len(cfg)) + cfg + weights


TARGETS = {"safetensors": safetensors_seeds, "safetensors_index": index_seeds,
           "gguf": gguf_seeds, "apr": apr_seeds, "delta_payload": payload_seeds,
           "peft": peft_seeds}


def main():
    for target, gen in TARGETS.items():
        d = os.path.join(ROOT, "fuzz", "seeds", target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, data in gen():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"fuzz/seeds/{target}: {len(os.listdir(d))} files")


if __name__ == "__main__":
    main()
