"""Shared fixtures of the modeldiff pytest suite.

Models are generated in the test session (tmp dirs) with numpy, safetensors and gguf-py; the
real models come from ``$MODELDIFF_TEST_MODELS`` (else ``target/test-models`` of the repo) and
are only read. Their tests skip when the models are absent, and fail instead when
``MODELDIFF_REQUIRE_MODELS=1``. The CLI whose JSON the bindings must equal is
``$MODELDIFF_BIN`` (``cargo xtask python`` sets it), else ``target/debug/modeldiff``.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]


def models_dir() -> pathlib.Path:
    env = os.environ.get("MODELDIFF_TEST_MODELS")
    return pathlib.Path(env) if env else REPO / "target" / "test-models"


def real_model(name: str) -> pathlib.Path:
    """A real test model, or a skip (a failure under ``MODELDIFF_REQUIRE_MODELS=1``)."""
    path = models_dir() / name
    if not path.exists():
        msg = f"{path} is missing (run `cargo xtask models`)"
        if os.environ.get("MODELDIFF_REQUIRE_MODELS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def cli_bin() -> pathlib.Path:
    env = os.environ.get("MODELDIFF_BIN")
    path = pathlib.Path(env) if env else REPO / "target" / "debug" / "modeldiff"
    if not path.exists():
        pytest.fail(f"the modeldiff binary {path} is missing (cargo build --profile test -p modeldiff-cli, or set MODELDIFF_BIN)")
    return path


def cli_json(*args: object) -> dict:
    """``modeldiff ARGS --format json`` parsed."""
    out = subprocess.run(
        [str(cli_bin()), *map(str, args), "--format", "json"],
        check=True,
        capture_output=True,
    )
    return json.loads(out.stdout)


def cli_error(*args: object) -> str:
    """The one-line error ``modeldiff ARGS`` prints, without ``modeldiff: ``."""
    out = subprocess.run([str(cli_bin()), *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 2, out
    line = out.stderr.strip()
    assert line.startswith("modeldiff: "), line
    return line[len("modeldiff: ") :]


def q4_k_blocks(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Random Q4_K blocks (144 bytes per 256 values) with finite, moderate scales."""
    import gguf

    block_size, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q4_K]
    assert cols % block_size == 0
    blocks = rng.integers(0, 256, size=(rows * cols // block_size, type_size), dtype=np.uint8)
    scales = np.stack(
        [rng.uniform(0.001, 0.05, len(blocks)), rng.uniform(0.0, 0.02, len(blocks))], axis=1
    ).astype("<f2")
    blocks[:, :4] = scales.view(np.uint8).reshape(len(blocks), 4)
    return blocks.reshape(rows, cols // block_size * type_size)


def write_gguf(path: pathlib.Path, seed: int, scale: float = 0.0) -> dict:
    """A GGUF file with one tensor per dtype under test (F32, F16, BF16, Q8_0, Q4_K); values are
    the seed's plus ``scale`` times noise. Returns the float64 values each tensor encodes."""
    import gguf

    rng = np.random.default_rng(seed)
    noise = np.random.default_rng(seed + 1000)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_name(f"fixture-{seed}")
    expected = {}

    def values(shape):
        base = rng.standard_normal(shape).astype(np.float32)
        return (base + scale * noise.standard_normal(shape)).astype(np.float32)

    f32 = values((8, 64))
    w.add_tensor("blk.0.f32.weight", f32)
    expected["blk.0.f32.weight"] = f32.astype(np.float64)
    f16 = values((8, 64)).astype(np.float16)
    w.add_tensor("blk.0.f16.weight", f16)
    expected["blk.0.f16.weight"] = f16.astype(np.float64)
    bf16 = gguf.quants.quantize(values((4, 64)), gguf.GGMLQuantizationType.BF16)
    w.add_tensor("blk.0.bf16.weight", bf16, raw_dtype=gguf.GGMLQuantizationType.BF16)
    expected["blk.0.bf16.weight"] = gguf.quants.dequantize(bf16, gguf.GGMLQuantizationType.BF16).astype(np.float64)
    q8 = gguf.quants.quantize(values((4, 128)), gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.q8_0.weight", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    expected["blk.0.q8_0.weight"] = gguf.quants.dequantize(q8, gguf.GGMLQuantizationType.Q8_0).astype(np.float64)
    q4 = q4_k_blocks(rng, 2, 512)
    if scale:
        q4 = q4.copy()
        q4[:, 40] ^= 0x11
    w.add_tensor("blk.0.q4_k.weight", q4, raw_dtype=gguf.GGMLQuantizationType.Q4_K)
    expected["blk.0.q4_k.weight"] = gguf.quants.dequantize(q4, gguf.GGMLQuantizationType.Q4_K).astype(np.float64)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return expected


@pytest.fixture(scope="session")
def gguf_pair(tmp_path_factory) -> tuple:
    """Two generated GGUF files (B = A perturbed) and the values A encodes."""
    d = tmp_path_factory.mktemp("gguf")
    expected = write_gguf(d / "a.gguf", 1)
    write_gguf(d / "b.gguf", 1, scale=0.01)
    return d / "a.gguf", d / "b.gguf", expected


@pytest.fixture(scope="session")
def st_pair(tmp_path_factory) -> tuple:
    """Two small SafeTensors files: a changed, an added, a removed and a NaN tensor."""
    from safetensors.numpy import save_file

    d = tmp_path_factory.mktemp("st")
    rng = np.random.default_rng(7)
    w = rng.standard_normal((16, 32)).astype(np.float32)
    nan = np.ones(10, np.float32)
    nan_b = nan.copy()
    nan_b[3] = np.nan
    save_file({"w": w, "same": np.arange(6, dtype=np.float16), "gone": np.zeros(3, np.float32), "n": nan}, d / "a.safetensors")
    save_file(
        {"w": w + 0.01 * rng.standard_normal(w.shape).astype(np.float32), "same": np.arange(6, dtype=np.float16), "new": np.ones(2, np.int32), "n": nan_b},
        d / "b.safetensors",
        metadata={"step": "2"},
    )
    return d / "a.safetensors", d / "b.safetensors"


@pytest.fixture(scope="session")
def minilm_pair(tmp_path_factory) -> tuple:
    """The real MiniLM SafeTensors and a perturbed copy written in the session."""
    from safetensors.numpy import load_file, save_file

    src = real_model("minilm-l6-v2.safetensors")
    tensors = load_file(str(src))
    rng = np.random.default_rng(3)
    for name in sorted(tensors)[::3]:
        t = tensors[name]
        if t.dtype.kind == "f":
            tensors[name] = (t + 1e-3 * rng.standard_normal(t.shape)).astype(t.dtype)
    out = tmp_path_factory.mktemp("minilm") / "minilm-perturbed.safetensors"
    save_file(tensors, str(out))
    return src, out
