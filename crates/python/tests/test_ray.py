"""``modeldiff.ray``: many pairs as Ray tasks on a local Ray (``num_cpus=2``), in order."""

from __future__ import annotations

import pytest

import modeldiff



@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def many_pairs(gguf_pair, st_pair, minilm_pair):
    ga, gb, _ = gguf_pair
    sa, sb = st_pair
    ma, mb = minilm_pair
    base = [(ga, gb), (gb, ga), (sa, sb), (sb, sa), (ga, ga), (sa, sa), (ma, mb)]
    return [base[i % len(base)] for i in range(24)]


def test_diff_many_equals_the_sequential_results_in_order(local_ray, many_pairs):
    from modeldiff.ray import diff_many

    sequential = [modeldiff.diff(a, b) for a, b in many_pairs]
    got = diff_many(many_pairs)
    assert len(got) == 24
    assert got == sequential
    # Options reach every task.
    only = diff_many(many_pairs[:4], include=["f32"])
    assert only == [modeldiff.diff(a, b, include=["f32"]) for a, b in many_pairs[:4]]


def test_diff_many_errors_are_modeldiff_errors(local_ray, st_pair, tmp_path):
    from modeldiff.ray import diff_many

    with pytest.raises(modeldiff.IoError):
        diff_many([(st_pair[0], tmp_path / "missing.safetensors")])
    with pytest.raises(TypeError):
        diff_many([(st_pair[0],)])


def test_to_arrow_flattens_summaries_and_tensors(local_ray, many_pairs):
    from modeldiff.ray import diff_many, to_arrow

    reports = diff_many(many_pairs[:7])
    tables = to_arrow(reports)
    assert tables.summary.num_rows == 7
    assert tables.summary.column("pair").to_pylist() == list(range(7))
    assert tables.summary.column("identical").to_pylist() == [r["summary"]["identical"] for r in reports]
    assert tables.tensors.num_rows == sum(len(r["tensors"]) for r in reports)
    names = tables.tensors.column("name").to_pylist()
    assert names[: len(reports[0]["tensors"])] == [t["name"] for t in reports[0]["tensors"]]
    import pyarrow.parquet as pq
    import io

    buf = io.BytesIO()
    pq.write_table(tables.tensors, buf)
    assert pq.read_table(io.BytesIO(buf.getvalue())).num_rows == tables.tensors.num_rows


def test_importing_modeldiff_does_not_import_ray_or_pyarrow():
    import subprocess
    import sys

    code = "import sys, modeldiff, modeldiff.delta; assert 'ray' not in sys.modules and 'pyarrow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
