#!/usr/bin/env python3
"""Oracle files for the real PyTorch checkpoints, written without torch.

Usage:
    python tests/real/torch_oracle.py MODELS_DIR

Decodes the checkpoints fetched by ../shared/models/fetch-models.sh independently of modeldiff:
Python's own unpickler, restricted by `find_class` to collections.OrderedDict, the
`torch._utils._rebuild_*` functions (replaced here by numpy stand-ins) and the torch storage
classes (any other name raises), `persistent_load` for storage ids, numpy `as_strided` for the
views, and `zipfile` / `struct` for the two containers. Writes, into MODELS_DIR/torch-oracle/:

  <label>.safetensors   every tensor's values (dtype as stored), names as modeldiff gives them
                        (nested dicts joined with '.', a `state_dict` entry's prefix dropped)
  index.json            {label: {"file": path relative to MODELS_DIR, "tensors": {name:
                        {"dtype", "shape"}}}}

Labels: lpips-v0.0-{alex,squeeze,vgg}, lpips-v0.1-{alex,squeeze,vgg} (legacy .pth),
facenet-{pnet,rnet,onet} (legacy .pt) and akiki-vad (zip .pt). Read by
crates/formats/tests/torch_real.rs.
"""
import collections
import io
import json
import pathlib
import pickle
import struct
import sys
import zipfile

import numpy as np
from safetensors.numpy import save_file

STORAGES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
SAFETENSORS = {"<f4": "F32", "<f8": "F64", "<f2": "F16", "<i8": "I64", "<i4": "I32", "<i2": "I16",
               "|i1": "I8", "|u1": "U8", "|b1": "BOOL"}


class StorageClass:
    def __init__(self, name):
        self.dtype = STORAGES[name]


class StorageRef:
    def __init__(self, cls, key, numel):
        self.dtype, self.key, self.numel = cls.dtype, key, numel
        self.data = None  # filled from the container


class Pending:
    """A tensor view, materialized once the storage bytes are known."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self):
        flat = np.frombuffer(self.storage.data, dtype=self.storage.dtype, count=self.storage.numel)
        es = flat.dtype.itemsize
        base = flat[self.offset:]
        if 0 in self.size:
            return np.zeros(self.size, dtype=flat.dtype)
        return np.lib.stride_tricks.as_strided(base, self.size, [s * es for s in self.stride]).copy()


def rebuild_tensor(storage, offset, size, stride, *rest):
    return Pending(storage, offset, size, stride)


class Unpickler(pickle.Unpickler):
    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda data, *rest: data
        if module == "torch" and name in STORAGES:
            return StorageClass(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        kind, cls, key, location, numel = pid[:5]
        assert kind == "storage" and (len(pid) == 5 or pid[5] is None), pid
        return self.storages.setdefault(key, StorageRef(cls, key, numel))


def load_legacy(path):
    f = open(path, "rb")
    storages = {}
    assert pickle.load(f) == 0x1950A86A20F9469CFC6C
    assert pickle.load(f) == 1001
    pickle.load(f)  # system info
    obj = Unpickler(f, storages).load()
    keys = pickle.load(f)
    for key in keys:
        (count,) = struct.unpack("<q", f.read(8))
        s = storages[key]
        assert count == s.numel, (key, count, s.numel)
        s.data = f.read(count * s.dtype.itemsize)  # always little-endian
    return obj


def load_zip(path):
    z = zipfile.ZipFile(path)
    (pkl,) = [n for n in z.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
    folder = pkl.split("/")[0]
    storages = {}
    obj = Unpickler(io.BytesIO(z.read(pkl)), storages).load()
    order = z.read(f"{folder}/byteorder").decode() if f"{folder}/byteorder" in z.namelist() else "little"
    for key, s in storages.items():
        raw = z.read(f"{folder}/data/{key}")
        if order == "big":
            raw = np.frombuffer(raw, dtype=s.dtype.newbyteorder(">")).astype(s.dtype).tobytes()
        s.data = raw
    return obj


def flatten(obj, prefix, out):
    if isinstance(obj, Pending):
        out[prefix] = obj.array()
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)


def tensors(obj):
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    out = {}
    flatten(obj, "", out)
    return out


def main():
    models = pathlib.Path(sys.argv[1])
    dest = models / "torch-oracle"
    dest.mkdir(exist_ok=True)
    jobs = {}
    for version in ("v0.0", "v0.1"):
        for net in ("alex", "squeeze", "vgg"):
            jobs[f"lpips-{version}-{net}"] = (f"lpips-weights/{version}/{net}.pth", load_legacy)
    for net in ("pnet", "rnet", "onet"):
        jobs[f"facenet-{net}"] = (f"facenet-mtcnn/{net}.pt", load_legacy)
    jobs["akiki-vad"] = ("akiki-vad.pt", load_zip)
    index = {}
    for label, (rel, loader) in jobs.items():
        ts = tensors(loader(models / rel))
        save_file({k: np.ascontiguousarray(v) for k, v in ts.items()}, str(dest / f"{label}.safetensors"))
        index[label] = {
            "file": rel,
            "tensors": {k: {"dtype": SAFETENSORS[v.dtype.str], "shape": list(v.shape)} for k, v in ts.items()},
        }
        print(f"torch_oracle: {label}: {len(ts)} tensors")
    (dest / "index.json").write_text(json.dumps(index, indent=1) + "\n")


if __name__ == "__main__":
    main()
