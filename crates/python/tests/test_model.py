"""``modeldiff.open``: names, dtypes, shapes, float32 decodes against numpy and gguf-py, and
``raw`` arrays that view the model's memory without a copy."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import modeldiff
from conftest import real_model


def test_names_dtypes_shapes_and_metadata(gguf_pair):
    a, _, expected = gguf_pair
    m = modeldiff.open(a)
    assert len(m) == len(expected)
    assert m.names() == list(expected)
    assert "blk.0.q4_k.weight" in m and "nope" not in m
    assert [m.dtype(n) for n in m.names()] == ["F32", "F16", "BF16", "Q8_0", "Q4_K"]
    for name, values in expected.items():
        assert m.shape(name) == values.shape
    assert m.format == "gguf"
    assert m.metadata["general.architecture"] == "llama"
    assert m.metadata["general.name"] == "fixture-1"
    assert m.metadata["llama.block_count"] == 1
    assert "gguf" in repr(m)


@pytest.mark.parametrize("name", ["blk.0.f32.weight", "blk.0.f16.weight", "blk.0.bf16.weight", "blk.0.q8_0.weight", "blk.0.q4_k.weight"])
def test_getitem_decodes_every_dtype_like_numpy_and_gguf_py(gguf_pair, name):
    a, _, expected = gguf_pair
    m = modeldiff.open(a)
    got = m[name]
    assert got.dtype == np.float32
    assert got.shape == expected[name].shape
    # gguf-py dequantizes in float32 with the same formulas: equal to the last bit.
    np.testing.assert_array_equal(got, expected[name].astype(np.float32))
    assert got.flags.owndata is False and got.flags.writeable
    got[0] = 0  # a decoded array is the caller's


def test_getitem_on_the_real_q8_0_gguf_matches_gguf_py():
    import gguf

    path = real_model("minilm-l6-v2-q8_0.gguf")
    reader = gguf.GGUFReader(str(path))
    m = modeldiff.open(path)
    seen = set()
    for t in reader.tensors:
        kind = t.tensor_type.name
        if kind in seen:
            continue
        seen.add(kind)
        want = gguf.quants.dequantize(t.data, t.tensor_type).reshape(m.shape(t.name))
        np.testing.assert_array_equal(m[t.name], want.astype(np.float32))
    assert "Q8_0" in seen


def test_getitem_on_real_safetensors_equals_the_stored_values():
    from safetensors.numpy import load_file

    path = real_model("minilm-l6-v2.safetensors")
    tensors = load_file(str(path))
    m = modeldiff.open(path)
    for name in m.names()[:20]:
        np.testing.assert_array_equal(m[name], tensors[name].astype(np.float32))


def test_raw_views_the_mapped_bytes_without_a_copy(gguf_pair):
    import gguf
    import ml_dtypes

    a, _, expected = gguf_pair
    m = modeldiff.open(a)
    reader = gguf.GGUFReader(str(a))
    stored = {t.name: np.asarray(t.data) for t in reader.tensors}
    want_dtype = {
        "blk.0.f32.weight": np.float32,
        "blk.0.f16.weight": np.float16,
        "blk.0.bf16.weight": np.uint16,
        "blk.0.q8_0.weight": np.uint8,
        "blk.0.q4_k.weight": np.uint8,
    }
    for name in m.names():
        r = m.raw(name)
        assert r.dtype == want_dtype[name], name
        # No copy: numpy does not own the memory; the base is the buffer holding the model.
        assert r.flags.owndata is False
        assert r.flags.writeable is False
        assert isinstance(r.base, modeldiff.TensorBuffer)
        assert r.base.is_mapped and r.base.model is m
        assert r.tobytes() == stored[name].tobytes()
        if r.dtype != np.uint8:
            assert r.shape == expected[name].shape
    bf = m.raw("blk.0.bf16.weight").view(ml_dtypes.bfloat16).astype(np.float64)
    np.testing.assert_array_equal(bf, expected["blk.0.bf16.weight"])
    # Two views of one tensor point at the same address: the map, not fresh copies.
    r1, r2 = m.raw("blk.0.f32.weight"), m.raw("blk.0.f32.weight")
    assert r1.__array_interface__["data"][0] == r2.__array_interface__["data"][0]
    assert r1.__array_interface__["data"][0] != m["blk.0.f32.weight"].__array_interface__["data"][0]


def test_a_raw_array_keeps_the_model_alive(gguf_pair):
    a, _, expected = gguf_pair
    m = modeldiff.open(a)
    r = m.raw("blk.0.f32.weight")
    del m
    gc.collect()
    np.testing.assert_array_equal(r, expected["blk.0.f32.weight"].astype(np.float32))


def test_raw_on_real_safetensors_is_zero_copy():
    from safetensors.numpy import load_file

    path = real_model("minilm-l6-v2.safetensors")
    tensors = load_file(str(path))
    m = modeldiff.open(path)
    for name in m.names()[:10]:
        r = m.raw(name)
        np.testing.assert_array_equal(r, tensors[name])
        assert r.flags.owndata is False and r.base.is_mapped


def test_unknown_names_raise_key_error(gguf_pair):
    m = modeldiff.open(gguf_pair[0])
    for f in (m.dtype, m.shape, m.raw, m.__getitem__):
        with pytest.raises(KeyError, match="no tensor named `nope`"):
            f("nope")


def test_open_errors_are_modeldiff_errors(tmp_path):
    with pytest.raises(modeldiff.IoError, match="^cannot read model: "):
        modeldiff.open(tmp_path / "missing.gguf")
