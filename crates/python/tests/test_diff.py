"""``modeldiff.diff`` and ``modeldiff.inspect`` equal the CLI's JSON; arguments and errors."""

from __future__ import annotations

import math

import pytest

import modeldiff
from conftest import cli_error, cli_json, real_model


def test_diff_equals_the_cli_on_the_real_minilm_pair(minilm_pair):
    a, b = minilm_pair
    got = modeldiff.diff(a, b)
    assert got["schema"] == "modeldiff.report.v1"
    assert got == cli_json("diff", a, b)
    assert got["summary"]["identical"] < got["summary"]["unchanged"]


def test_diff_equals_the_cli_across_formats_on_real_models():
    a = real_model("minilm-l6-v2.safetensors")
    b = real_model("minilm-l6-v2-q8_0.gguf")
    got = modeldiff.diff(a, b, exclude=r"position")
    assert got == cli_json("diff", a, b, "--exclude", "position")
    assert got["summary"]["compared"] > 0


def test_diff_equals_the_cli_on_a_generated_gguf_pair(gguf_pair):
    a, b, _ = gguf_pair
    got = modeldiff.diff(a, b)
    assert got == cli_json("diff", a, b)
    assert got["summary"]["identical"] < got["summary"]["unchanged"]
    only = modeldiff.diff(a, b, include=["q4_k"], threads=1)
    assert only == cli_json("diff", a, b, "--include", "q4_k", "--threads", "1")
    assert [t["name"] for t in only["tensors"]] == ["blk.0.q4_k.weight"]


def test_non_finite_metrics_are_none_as_in_the_cli(st_pair):
    a, b = st_pair
    got = modeldiff.diff(a, b, ignore_metadata=True, no_renames=True, map="none")
    assert got == cli_json("diff", a, b, "--ignore-metadata", "--no-renames", "--map", "none")
    n = next(t for t in got["tensors"] if t["name"] == "n")
    assert n["metrics"]["nonfinite_b"] == 1
    # No float NaN ever reaches Python: non-finite numbers are None, as null in the JSON.
    def walk(v):
        if isinstance(v, float):
            assert math.isfinite(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(got)


def test_inspect_equals_the_cli(gguf_pair, st_pair):
    for path in (gguf_pair[0], st_pair[1]):
        got = modeldiff.inspect(path)
        assert got["schema"] == "modeldiff.inspect.v1"
        assert got == cli_json("inspect", path)


def test_paths_may_be_pathlike_or_str(st_pair):
    a, b = st_pair
    assert modeldiff.diff(str(a), str(b)) == modeldiff.diff(a, b)


@pytest.mark.parametrize(
    "kwargs, exc, text",
    [
        ({"include": ["("]}, ValueError, "invalid include regex `(`"),
        ({"threads": 0}, ValueError, "threads must be at least 1"),
        ({"threads": "2"}, TypeError, "threads must be an int"),
        ({"include": [1]}, TypeError, "include must hold strings"),
        ({"include": 5}, TypeError, "include must be a string or a list"),
        ({"qk_unpermute": "maybe"}, ValueError, "qk_unpermute must be"),
        ({"rename": ["nope"]}, ValueError, ""),
    ],
)
def test_bad_arguments_raise_value_or_type_errors(st_pair, kwargs, exc, text):
    a, b = st_pair
    with pytest.raises(exc) as e:
        modeldiff.diff(a, b, **kwargs)
    assert text in str(e.value)
    assert not isinstance(e.value, modeldiff.ModeldiffError)


def test_a_missing_file_is_an_io_error_with_the_cli_message(tmp_path, st_pair):
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(modeldiff.IoError) as e:
        modeldiff.diff(st_pair[0], missing)
    assert isinstance(e.value, modeldiff.ModeldiffError)
    assert isinstance(e.value, OSError)
    assert str(e.value) == cli_error("diff", st_pair[0], missing)
    assert str(e.value).startswith("cannot read model B: ")


def test_a_malformed_file_is_a_format_error_with_the_cli_message(tmp_path, st_pair):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 20)
    with pytest.raises(modeldiff.FormatError) as e:
        modeldiff.diff(bad, st_pair[0])
    assert str(e.value) == cli_error("diff", bad, st_pair[0])
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello, world, not a model at all")
    with pytest.raises(modeldiff.FormatError) as e:
        modeldiff.inspect(junk)
    assert str(e.value) == cli_error("inspect", junk)


def test_an_unsupported_file_is_an_unsupported_error(tmp_path):
    # APR v1 is recognised but not a tensor container.
    f = tmp_path / "old.apr"
    f.write_bytes(b"APRN" + b"\x00" * 60)
    with pytest.raises(modeldiff.UnsupportedError) as e:
        modeldiff.open(f)
    assert str(e.value) == cli_error("inspect", f)
    assert "APR v1" in str(e.value)


def test_error_classes_form_one_hierarchy():
    for cls in (modeldiff.FormatError, modeldiff.IoError, modeldiff.UnsupportedError, modeldiff.DeltaError):
        assert issubclass(cls, modeldiff.ModeldiffError)
    assert issubclass(modeldiff.IoError, OSError)
