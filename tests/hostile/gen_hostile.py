"""Writes the hostile-file corpus into tests/hostile/files/ (run from the repository root:
`python3 tests/hostile/gen_hostile.py`).

Every file here must make `modeldiff inspect F` and `modeldiff diff F F` exit 2 with one line on
stderr naming the file and the problem, quickly and in little memory
(crates/cli/tests/hostile.rs). Standard library only; the builders are in modelfiles.py. Shards
that indexes point at live in files/shards/ (not themselves part of the corpus).
"""

import json
import os
import shutil
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import modelfiles as mf  # noqa: E402

OUT = os.path.join(HERE, "files")
files = {}


def add(name, data):
    assert name not in files, name
    files[name] = data


def f32(n):
    return mf.f32s([float(i) for i in range(n)])


# ---------------------------------------------------------------------------------------------
# SafeTensors

good_st = mf.safetensors([("a", "F32", [4], f32(4)), ("b", "F16", [2], b"\0" * 4)])
hlen = struct.unpack("<Q", good_st[:8])[0]
add("st-empty.safetensors", b"")
add("st-trunc-length.safetensors", good_st[:5])
add("st-trunc-header.safetensors", good_st[:8 + hlen // 2])
add("st-trunc-header-end.safetensors", good_st[:8 + hlen - 1])
add("st-trunc-data.safetensors", good_st[:-3])
add("st-trunc-no-data.safetensors", good_st[:8 + hlen])
add("st-header-len-huge.safetensors", mf.safetensors_raw(b'{"a":1}', b"", declared_len=1 << 62))
add("st-header-len-past-eof.safetensors",
    mf.safetensors_raw(b'{"a":1}', b"", declared_len=4096))


def st_header(d):
    return json.dumps(d).encode()


def st_one(entry, data=b"\0" * 16):
    return mf.safetensors_raw(st_header({"t": entry}), data)


add("st-offsets-past-eof.safetensors",
    st_one({"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}))
add("st-offsets-reversed.safetensors",
    st_one({"dtype": "F32", "shape": [0], "data_offsets": [16, 0]}))
add("st-overlap.safetensors", mf.safetensors_raw(st_header({
    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}), b"\0" * 12))
add("st-gap.safetensors", mf.safetensors_raw(st_header({
    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}}), b"\0" * 16))
add("st-size-not-shape.safetensors",
    st_one({"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}))
add("st-elements-overflow.safetensors",
    st_one({"dtype": "F32", "shape": [1 << 32, 1 << 32, 1 << 32], "data_offsets": [0, 16]}))
add("st-negative-dim.safetensors",
    st_one({"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}))
add("st-huge-dim.safetensors",
    mf.safetensors_raw(b'{"t":{"dtype":"F32","shape":[1e300],"data_offsets":[0,16]}}', b"\0" * 16))
add("st-unknown-dtype.safetensors",
    st_one({"dtype": "Q9_K", "shape": [4], "data_offsets": [0, 16]}))
add("st-duplicate-name.safetensors", mf.safetensors_raw(
    b'{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
    b'"t":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', b"\0" * 16))
# The repeated name is not the last key, and the file is consistent if the first entry is
# dropped, as the safetensors crate alone would do (it keeps the last one).
add("st-duplicate-name-first.safetensors", mf.safetensors_raw(
    b'{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
    b'"t":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},'
    b'"u":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', b"\0" * 16))
add("st-non-utf8-name.safetensors", mf.safetensors_raw(
    b'{"\xff\xfe":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', b"\0" * 16))
add("st-deep-metadata.safetensors",
    mf.safetensors_raw(b'{"t":' + b'{"a":' * 5000 + b"1" + b"}" * 5001, b""))
add("st-not-json.safetensors", mf.safetensors_raw(b"{this is not json}", b""))

# Shard indexes (their shards live in files/shards/).
shard = mf.safetensors([("x", "F32", [2], f32(2))])
add("index-escapes-dir.safetensors.index.json",
    json.dumps({"weight_map": {"x": "../shards/ok.safetensors"}}).encode())
add("index-absolute-path.safetensors.index.json",
    json.dumps({"weight_map": {"x": "/etc/passwd"}}).encode())
add("index-missing-shard.safetensors.index.json",
    json.dumps({"weight_map": {"x": "shards/missing.safetensors"}}).encode())
add("index-tensor-not-in-shard.safetensors.index.json",
    json.dumps({"weight_map": {"y": "shards/ok.safetensors"}}).encode())
add("index-not-json.safetensors.index.json", b'{"weight_map": {"x": ')
add("index-weight-map-wrong-type.safetensors.index.json", b'{"weight_map": [1, 2, 3]}')

# ---------------------------------------------------------------------------------------------
# GGUF

g = mf.Gguf()
good_kvs = [("general.architecture", mf.GGUF_STRING, "llama"), ("a.u32", mf.GGUF_U32, 7)]
good_gguf = g.file(good_kvs, [("w", [4], 0, f32(4)), ("q", [32], 8, b"\1" * 34)])
kv_start = 24
kv_end = kv_start + len(g.kv(*good_kvs[0])) + len(g.kv(*good_kvs[1]))
ti_end = kv_end + len(g.tensor_info("w", [4], 0, 0)) + len(g.tensor_info("q", [32], 8, 32))
add("gguf-trunc-magic.gguf", good_gguf[:3])
add("gguf-trunc-version.gguf", good_gguf[:6])
add("gguf-trunc-counts.gguf", good_gguf[:20])
add("gguf-trunc-kv.gguf", good_gguf[:kv_start + 10])
add("gguf-trunc-tensor-info.gguf", good_gguf[:kv_end + 9])
add("gguf-trunc-padding.gguf", good_gguf[:ti_end + 1])
add("gguf-trunc-data.gguf", good_gguf[:-10])
add("gguf-billions-of-tensors.gguf", g.file(good_kvs, [], n_tensors=3_000_000_000))
add("gguf-billions-of-kvs.gguf", g.file(good_kvs, [], n_kv=1 << 40))
add("gguf-string-len-huge.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
    + struct.pack("<Q", 1 << 62) + b"key")
add("gguf-array-huge.gguf", g.file([], [], n_kv=1, raw_kvs=g.string("arr")
    + struct.pack("<IIQ", mf.GGUF_ARRAY, mf.GGUF_U64, 1 << 50)))
nested = (mf.GGUF_I32, [1])
for _ in range(200):
    nested = (mf.GGUF_ARRAY, [nested])
add("gguf-deeply-nested-array.gguf", g.file([("deep", mf.GGUF_ARRAY, nested)], []))
add("gguf-duplicate-key.gguf", g.file(good_kvs + [good_kvs[1]], []))
add("gguf-duplicate-tensor.gguf", g.file([], [("w", [4], 0, f32(4)), ("w", [4], 0, f32(4))]))
add("gguf-unknown-value-type.gguf", g.file([], [], n_kv=1,
                                           raw_kvs=g.string("k") + struct.pack("<I", 99) + b"\0" * 8))
add("gguf-removed-type-id.gguf", g.file([], [("w", [32], 4, b"\0" * 20)]))
add("gguf-offset-past-eof.gguf", b"GGUF" + struct.pack("<IQQ", 3, 1, 0)
    + g.tensor_info("w", [4], 0, 1 << 40) + b"\0" * 32)
add("gguf-offset-misaligned.gguf", b"GGUF" + struct.pack("<IQQ", 3, 1, 0)
    + g.tensor_info("w", [4], 0, 3) + b"\0" * 64)
add("gguf-too-many-dims.gguf", g.file([], [("w", [1, 1, 1, 1, 4], 0, f32(4))]))
add("gguf-elements-overflow.gguf", b"GGUF" + struct.pack("<IQQ", 3, 1, 0)
    + g.tensor_info("w", [1 << 32, 1 << 32, 1 << 32], 0, 0) + b"\0" * 64)
add("gguf-negative-dim.gguf", b"GGUF" + struct.pack("<IQQ", 3, 1, 0)
    + g.tensor_info("w", [(1 << 64) - 4], 0, 0) + b"\0" * 64)
add("gguf-data-size-past-eof.gguf", g.file([], [("w", [1 << 20], 0, f32(4))]))
add("gguf-alignment-not-power-of-two.gguf",
    g.file([("general.alignment", mf.GGUF_U32, 24)], [("w", [4], 0, f32(4))], alignment=24))
add("gguf-alignment-zero.gguf", g.file([("general.alignment", mf.GGUF_U32, 0)], []))
add("gguf-version-9.gguf", b"GGUF" + struct.pack("<IQQ", 9, 0, 0))
add("gguf-row-not-block-multiple.gguf", g.file([], [("q", [33], 8, b"\0" * 36)]))
add("gguf-non-utf8-tensor-name.gguf", b"GGUF" + struct.pack("<IQQ", 3, 1, 0)
    + g.count(2) + b"\xff\xfe" + struct.pack("<IQIQ", 1, 4, 0, 0) + b"\0" * 48)

# ---------------------------------------------------------------------------------------------
# APR

tensors = [("a", mf.APR_F32, [4], f32(4)), ("b", mf.APR_F16, [2], b"\0" * 4)]
good_apr = mf.aprender(tensors)
mo, ms, io, do = 64, struct.unpack_from("<I", good_apr, 20)[0], \
    struct.unpack_from("<Q", good_apr, 24)[0], struct.unpack_from("<Q", good_apr, 32)[0]
add("apr-trunc-header.apr", good_apr[:40])
add("apr-trunc-metadata.apr", good_apr[:mo + ms // 2])
add("apr-trunc-index.apr", good_apr[:io + 10])
add("apr-trunc-data.apr", good_apr[:do + 8])
bad = bytearray(good_apr)
bad[41] ^= 0xFF
add("apr-header-crc-mismatch.apr", bytes(bad))
bad = bytearray(good_apr)
bad[do + 1] ^= 0xFF
add("apr-footer-crc-mismatch.apr", bytes(bad))
add("apr-billions-of-tensors.apr", mf.aprender(tensors, tensor_count=0xFFFFFFFF))
add("apr-offset-past-eof.apr", (lambda: (
    lambda h: h + good_apr[64:])(mf.apr_header(b"APR\0", 0x400, 2, mo, ms, io, 1 << 40)))())
add("apr-size-not-shape.apr", mf.aprender([("a", mf.APR_F32, [5], f32(4))]))
add("apr-unknown-dtype.apr", mf.aprender([("a", 200, [4], f32(4))]))
add("apr-duplicate-name.apr", mf.aprender([("a", 0, [1], f32(1)), ("a", 0, [1], f32(1))]))
add("apr-unsorted-index.apr", mf.aprender([("b", 0, [1], f32(1)), ("a", 0, [1], f32(1))],
                                          sort=False))
add("apr-non-utf8-name.apr", mf.aprender([(b"\xff\xfe", 0, [1], f32(1))]))
add("apr-too-many-dims.apr", mf.aprender([("a", 0, [1] * 9, f32(1))]))
add("apr-elements-overflow.apr", mf.aprender([("a", 0, [1 << 32, 1 << 32, 1 << 32], f32(1))]))
# Metadata nested 2000 deep (the placeholder string has exactly the same length).
deep = mf.aprender(tensors, metadata={"d": "X" * 3998})
add("apr-metadata-deep-json.apr",
    deep.replace(b'"' + b"X" * 3998 + b'"', b"[" * 2000 + b"]" * 2000, 1))
add("apr-metadata-size-huge.apr", mf.apr_header(b"APR\0", 0x400, 0, 64, 0xFFFFFFFF, 64, 64)
    + good_apr[64:])
add("apr-encrypted.apr", mf.aprender(tensors, flags=0x0404))
add("apr-v1.apr", b"APRN" + b"\0" * 60)
add("apr2-neither-layout.apr", b"APR2" + b"\xff" * 60)
# Compression: bombs, lies about sizes, broken frames.
add("apr-lz4-bomb.apr", mf.apr_header(b"APR\0", 0x401, 0, 64, 2, 128, 128)
    + struct.pack("<I", 64) + mf.lz4_bomb(1 << 20))
add("apr-lz4-declared-huge.apr", mf.apr_compressed(good_apr, "lz4", declared=0xFFFFFFFF))
add("apr-lz4-declared-short.apr", mf.apr_compressed(good_apr, "lz4", declared=100))
add("apr-zstd-bomb-no-size.apr", mf.apr_header(b"APR\0", 0x402, 0, 64, 2, 128, 128)
    + mf.zstd_rle_bomb(1 << 30))
add("apr-zstd-bomb-declared.apr", mf.apr_header(b"APR\0", 0x402, 0, 64, 2, 128, 128)
    + mf.zstd_rle_bomb(1 << 30, content_size=200))
add("apr-zstd-declared-huge.apr", mf.apr_compressed(good_apr, "zstd", declared=1 << 40))
add("apr-zstd-declared-wrong.apr", mf.apr_compressed(good_apr, "zstd", declared=300))
add("apr-zstd-truncated.apr", mf.apr_compressed(good_apr, "zstd")[:-20])
add("apr-zstd-garbage.apr", mf.apr_header(b"APR\0", 0x402, 0, 64, 2, 128, 128) + b"\x01" * 64)
# Cookbook bundles.
ct = [("w", [4], f32(4), 0)]
good_cb = mf.cookbook(ct)
add("cookbook-trunc-index.apr", good_cb[:70])
add("cookbook-payload-past-eof.apr", mf.cookbook(ct, payload_size=1 << 20))
add("cookbook-billions-of-tensors.apr", mf.cookbook(ct, tensor_count=0xFFFFFFFF))
add("cookbook-lz4-bomb.apr", mf.cookbook(ct, compression=1, payload_size=16,
                                         payload=struct.pack("<I", 16) + mf.lz4_bomb(1 << 20)))
add("cookbook-zstd-bomb.apr", mf.cookbook(ct, compression=2, payload_size=16,
                                          payload=mf.zstd_rle_bomb(1 << 30)))
add("cookbook-tensor-past-payload.apr", mf.cookbook(ct, payload_size=8))


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(os.path.join(OUT, "shards"))
    with open(os.path.join(OUT, "shards", "ok.safetensors"), "wb") as f:
        f.write(shard)
    for name, data in sorted(files.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    total = sum(len(d) for d in files.values())
    print(f"tests/hostile/files: {len(files)} files, {total} bytes")


if __name__ == "__main__":
    main()
