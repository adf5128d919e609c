"""Byte-level builders for SafeTensors, GGUF and APR files, valid or deliberately broken.

Standard library only (no numpy, gguf-py, lz4 or zstandard), so the hostile corpus
(`gen_hostile.py`) and the fuzz seeds (`fuzz/gen_seeds.py`) can be regenerated anywhere.
Every builder takes explicit field values, so a caller can lie in any of them.
"""

import json
import struct
import zlib

# ---------------------------------------------------------------------------------------------
# SafeTensors: u64 header length, JSON header, data.

ST_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
            "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}


def safetensors(tensors, metadata=None, pad=True):
    """`tensors`: list of (name, dtype, shape, data bytes), stored in order."""
    header, off, data = {}, 0, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        data += raw
    return safetensors_raw(json.dumps(header, separators=(",", ":")).encode(), data, pad)


def safetensors_raw(header, data, pad=True, declared_len=None):
    """A file from a header given as bytes (may be anything), optionally space-padded to 8."""
    if pad:
        header += b" " * (-(8 + len(header)) % 8)
    n = len(header) if declared_len is None else declared_len
    return struct.pack("<Q", n) + header + data


def f32s(values):
    return struct.pack("<%df" % len(values), *values)


# ---------------------------------------------------------------------------------------------
# GGUF (v1–v3, either byte order).

GGUF_U8, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL = range(8)
GGUF_STRING, GGUF_ARRAY, GGUF_U64, GGUF_I64, GGUF_F64 = range(8, 13)
_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "B", 10: "Q", 11: "q",
           12: "d"}

# ggml type id -> (elements per block, bytes per block)
GGML_TYPES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
              8: (32, 34), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
              14: (256, 210), 30: (1, 2), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8),
              28: (1, 8)}


class Gguf:
    """Encodes GGUF fields in one byte order and version."""

    def __init__(self, big=False, version=3):
        self.e = ">" if big else "<"
        self.version = version

    def count(self, n):
        # v1 used u32 counts and lengths.
        return struct.pack(self.e + ("I" if self.version == 1 else "Q"), n)

    def string(self, s):
        b = s if isinstance(s, bytes) else s.encode()
        return self.count(len(b)) + b

    def value(self, ty, v):
        if ty == GGUF_STRING:
            return self.string(v)
        if ty == GGUF_ARRAY:
            elem, items = v
            return (struct.pack(self.e + "I", elem) + self.count(len(items))
                    + b"".join(self.value(elem, x) for x in items))
        return struct.pack(self.e + _SCALAR[ty], v)

    def kv(self, key, ty, v):
        return self.string(key) + struct.pack(self.e + "I", ty) + self.value(ty, v)

    def tensor_info(self, name, ne, type_id, offset):
        return (self.string(name) + struct.pack(self.e + "I", len(ne))
                + b"".join(self.count(d) for d in ne)
                + struct.pack(self.e + "IQ", type_id, offset))

    def file(self, kvs, tensors, alignment=32, n_tensors=None, n_kv=None, raw_kvs=b""):
        """`kvs`: list of (key, type, value); `tensors`: list of (name, ne, type id, data)."""
        head = b"GGUF" + struct.pack(self.e + "I", self.version)
        head += self.count(len(tensors) if n_tensors is None else n_tensors)
        head += self.count(len(kvs) if n_kv is None else n_kv)
        body = b"".join(self.kv(*kv) for kv in kvs) + raw_kvs
        infos, data, off = b"", b"", 0
        for name, ne, type_id, raw in tensors:
            off += -off % alignment
            data += b"\0" * (off - len(data))
            infos += self.tensor_info(name, ne, type_id, off)
            data += raw
            off += len(raw)
        out = head + body + infos
        out += b"\0" * (-len(out) % alignment)
        return out + data


def gguf_nbytes(type_id, elems):
    be, bb = GGML_TYPES[type_id]
    return elems // be * bb


# ---------------------------------------------------------------------------------------------
# APR: aprender v2 (`APR\0`, legacy `APR2`) and the cookbook `APR2` bundle.

APR_F32, APR_F16, APR_F64, APR_I32, APR_I64, APR_I8, APR_U8 = 0, 1, 3, 4, 5, 6, 7
APR_BF16, APR_Q4, APR_Q8, APR_Q4K, APR_Q6K = 30, 128, 129, 12, 14


def _align64(n):
    return n + (-n % 64)


def apr_header(magic, flags, tensor_count, metadata_offset, metadata_size, index_offset,
               data_offset, crc=None, version=(2, 0)):
    h = bytearray(64)
    h[0:4] = magic
    h[4], h[5] = version
    struct.pack_into("<HIQIQQ", h, 6, flags, tensor_count, metadata_offset, metadata_size,
                     index_offset, data_offset)
    set_header_crc(h) if crc is None else struct.pack_into("<I", h, 40, crc)
    return bytes(h)


def set_header_crc(h):
    struct.pack_into("<I", h, 40, zlib.crc32(bytes(h[:40]) + bytes(h[44:64])))


def apr_entry(name, dtype, shape, offset, size):
    n = name if isinstance(name, bytes) else name.encode()
    return (struct.pack("<H", len(n)) + n + struct.pack("<BB", dtype, len(shape))
            + b"".join(struct.pack("<Q", d) for d in shape) + struct.pack("<QQ", offset, size))


def aprender(tensors, metadata=None, magic=b"APR\0", flags=0x0400, footer=True,
             tensor_count=None, sort=True):
    """`tensors`: list of (name, dtype id, shape, data). Returns the file bytes."""
    if sort:
        tensors = sorted(tensors, key=lambda t: t[0])
    meta = json.dumps(metadata if metadata is not None else {"name": "test"}).encode()
    index, off, data = b"", 0, b""
    for name, dtype, shape, raw in tensors:
        index += apr_entry(name, dtype, shape, off, len(raw))
        data += raw + b"\0" * (-len(raw) % 64)
        off = len(data)
    mo = 64
    io = mo + _align64(len(meta))
    do = io + _align64(len(index))
    h = apr_header(magic, flags, len(tensors) if tensor_count is None else tensor_count,
                   mo, len(meta), io, do)
    out = (h + meta + b"\0" * (-len(meta) % 64) + index + b"\0" * (-len(index) % 64) + data)
    if footer:
        out += struct.pack("<I", zlib.crc32(out))
    return out


def apr_compressed(plain, codec, flag=None, declared=None, content_size=True):
    """Compresses everything after the header of an uncompressed aprender file (`codec`: "lz4"
    or "zstd"), sets the flag and recomputes both CRCs over the logical image."""
    h = bytearray(plain[:64])
    flags = struct.unpack_from("<H", h, 6)[0] | (flag if flag is not None else
                                                   (1 if codec == "lz4" else 2))
    struct.pack_into("<H", h, 6, flags)
    set_header_crc(h)
    body = bytearray(plain[64:])
    if len(body) >= 4 and plain[-4:] == struct.pack("<I", zlib.crc32(plain[:-4])):
        body[-4:] = struct.pack("<I", zlib.crc32(bytes(h) + bytes(body[:-4])))
    body = bytes(body)
    if codec == "lz4":
        n = len(body) if declared is None else declared
        return bytes(h) + struct.pack("<I", n) + lz4_literals(body)
    return bytes(h) + zstd_raw(body, content_size=content_size, declared=declared)


def cookbook(tensors, compression=0, signed=False, label=0, payload_size=None,
             tensor_count=None, index_offset=None, payload_offset=None, payload=None):
    """`tensors`: list of (name, shape, data, label). The payload is stored raw, as one LZ4
    block (1) or one Zstd frame (2)."""
    index, data = b"", b""
    for name, shape, raw, lab in tensors:
        n = name if isinstance(name, bytes) else name.encode()
        index += (struct.pack("<I", len(n)) + n + struct.pack("<I", len(shape))
                  + b"".join(struct.pack("<Q", d) for d in shape)
                  + struct.pack("<QQB", len(data), len(raw), lab))
        data += raw
    io = 64 + (96 if signed else 0)
    po = io + len(index)
    if payload is None:
        if compression == 1:
            payload = struct.pack("<I", len(data)) + lz4_literals(data)
        elif compression == 2:
            payload = zstd_raw(data)
        else:
            payload = data
    h = bytearray(64)
    h[0:4] = b"APR2"
    h[4], h[5], h[6], h[7] = 2, 0, compression, label
    struct.pack_into("<IIII", h, 8, len(tensors) if tensor_count is None else tensor_count,
                     io if index_offset is None else index_offset,
                     po if payload_offset is None else payload_offset,
                     len(data) if payload_size is None else payload_size)
    h[24] = 1 if signed else 0
    sig = b"\x11" * 96 if signed else b""
    return bytes(h) + sig + index + payload


# ---------------------------------------------------------------------------------------------
# Compression by hand: literal-only LZ4 blocks, raw/RLE Zstd frames, and bombs.

def _lz4_len(n):
    out = b""
    while n >= 255:
        out += b"\xff"
        n -= 255
    return out + bytes([n])


def lz4_literals(data):
    """One LZ4 block holding `data` as a single literal run (valid, incompressible)."""
    n = len(data)
    if n < 15:
        return bytes([n << 4]) + data
    return bytes([0xF0]) + _lz4_len(n - 15) + data


def lz4_bomb(out_len):
    """An LZ4 block of one literal then one match of `out_len - 1` bytes (offset 1)."""
    m = out_len - 1 - 5 - 4  # the last 5 bytes must be literals; min match is 4
    return (bytes([0x1F]) + b"\0" + struct.pack("<H", 1) + _lz4_len(m - 15)
            + bytes([0x50]) + b"\0" * 5)


def zstd_raw(data, content_size=True, declared=None):
    """A Zstd frame of raw blocks (at most 128 KiB each), with or without the content size."""
    size = len(data) if declared is None else declared
    if content_size:
        fhd = bytes([0xE0])  # single segment, 8-byte content size
        head = b"\x28\xb5\x2f\xfd" + fhd + struct.pack("<Q", size)
    else:
        fhd = bytes([0x00])  # window descriptor follows, no content size
        head = b"\x28\xb5\x2f\xfd" + fhd + bytes([0x58])  # window 2^(10+11) = 2 MiB
    blocks, chunks = b"", [data[i:i + (1 << 17)] for i in range(0, len(data), 1 << 17)] or [b""]
    for i, c in enumerate(chunks):
        last = 1 if i == len(chunks) - 1 else 0
        blocks += struct.pack("<I", last | (0 << 1) | (len(c) << 3))[:3] + c
    return head + blocks


def zstd_rle_bomb(out_len, content_size=None):
    """A Zstd frame of RLE blocks (4 bytes per 128 KiB of zeros)."""
    head = b"\x28\xb5\x2f\xfd"
    if content_size is None:
        head += bytes([0x00, 0x58])
    else:
        head += bytes([0xE0]) + struct.pack("<Q", content_size)
    blocks, left = b"", out_len
    while left > 0:
        n = min(left, 1 << 17)
        left -= n
        blocks += struct.pack("<I", (1 if left == 0 else 0) | (1 << 1) | (n << 3))[:3] + b"\0"
    return head + blocks
