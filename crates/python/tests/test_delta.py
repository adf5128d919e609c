"""``modeldiff.delta``: extract, show, apply and verify payloads, as ``modeldiff delta``."""

from __future__ import annotations

import numpy as np
import pytest

import modeldiff
import modeldiff.delta
from conftest import cli_json


@pytest.fixture(scope="module")
def tuned_pair(tmp_path_factory):
    from safetensors.numpy import save_file

    d = tmp_path_factory.mktemp("delta")
    rng = np.random.default_rng(11)
    base = {
        f"model.layers.{i}.self_attn.q_proj.weight": rng.standard_normal((16, 16)).astype(np.float32)
        for i in range(2)
    }
    base["model.norm.weight"] = np.ones(16, np.float32)
    tuned = dict(base)
    tuned["model.layers.1.self_attn.q_proj.weight"] = base["model.layers.1.self_attn.q_proj.weight"] + np.outer(
        rng.standard_normal(16), rng.standard_normal(16)
    ).astype(np.float32) * 0.01
    save_file(base, d / "base.safetensors")
    save_file(tuned, d / "tuned.safetensors")
    return d, d / "base.safetensors", d / "tuned.safetensors"


@pytest.mark.parametrize("suffix", ["json", "safetensors"])
def test_full_payload_round_trip(tuned_pair, suffix):
    d, base, tuned = tuned_pair
    payload = d / f"full.{suffix}"
    report = modeldiff.delta.extract(base, tuned, kind="full", output=payload)
    assert [e["tensor"] for e in report["entries"]] == ["model.layers.1.self_attn.q_proj.weight"]
    assert report["target_digest"] is not None
    shown = modeldiff.delta.show(payload)
    assert shown == cli_json("delta", "show", payload)
    assert shown["encoding"] == ("json" if suffix == "json" else "safetensors")
    assert shown["digest_ok"] is True
    out = d / f"applied-{suffix}.safetensors"
    applied = modeldiff.delta.apply(base, payload, output=out)
    assert applied["updated"] == 1 and applied["tensors"] == 3
    assert modeldiff.diff(out, tuned)["summary"]["identical"] == 3
    verified = modeldiff.delta.verify(base, payload, target=tuned)
    assert verified["ok"] is True
    assert verified == cli_json("delta", "verify", base, payload, "--target", tuned)


def test_lora_needs_a_rank_and_extracts_one(tuned_pair):
    d, base, tuned = tuned_pair
    with pytest.raises(ValueError, match="needs rank"):
        modeldiff.delta.extract(base, tuned, kind="lora", output=d / "x.json")
    with pytest.raises(ValueError, match="only apply to kind"):
        modeldiff.delta.extract(base, tuned, kind="full", rank=2, output=d / "x.json")
    with pytest.raises(ValueError, match="kind must be"):
        modeldiff.delta.extract(base, tuned, kind="dora", output=d / "x.json")
    report = modeldiff.delta.extract(base, tuned, kind="lora", rank=1, output=d / "lora.json")
    assert report["entries"][0]["rank"] == 1
    assert modeldiff.delta.show(d / "lora.json")["parts"][0]["kind"] == "lora"
    assert modeldiff.delta.verify(base, d / "lora.json", target=tuned, max_rel_l2=1e-3)["ok"] is True


def test_bad_payloads_raise_delta_errors(tuned_pair, tmp_path):
    d, base, _ = tuned_pair
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "nope"}')
    with pytest.raises(modeldiff.DeltaError):
        modeldiff.delta.show(bad)
    with pytest.raises(modeldiff.DeltaError):
        modeldiff.delta.apply(base, bad, output=tmp_path / "out.safetensors")
    with pytest.raises(ValueError, match="dtype must be"):
        modeldiff.delta.apply(base, bad, output=tmp_path / "o.safetensors", dtype="f8")
    with pytest.raises(modeldiff.IoError):
        modeldiff.delta.show(tmp_path / "missing.json")


def test_an_output_over_an_input_is_refused(tuned_pair):
    d, base, tuned = tuned_pair
    with pytest.raises(modeldiff.ModeldiffError):
        modeldiff.delta.extract(base, tuned, kind="full", output=base)
    assert modeldiff.diff(base, base)["summary"]["identical"] == 3
