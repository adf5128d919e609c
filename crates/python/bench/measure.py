"""Measures what the Python issue's closing note reports (a figure, not a test):

1. per-pair cost of a Ray task against a local ``modeldiff.diff`` call;
2. pairs per second of ``modeldiff batch`` against ``modeldiff.ray.diff_many``;
3. the speed-up of two Python threads diffing two pairs at once against one after the other.

Usage (in the venv of ``cargo xtask python``):
``python crates/python/bench/measure.py [--pairs 40] [--bin target/release/modeldiff] [--models DIR]``.
Small pairs are generated in a temporary directory (a base and N perturbed checkpoints, 1 Mi
float32 values each); the two-thread figure uses the real MiniLM pair when ``--models`` (or
``$MODELDIFF_TEST_MODELS``) has it, else two generated 16 Mi-value pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import tempfile
import threading
import time

import numpy as np
from safetensors.numpy import save_file

import modeldiff


def small_pairs(d: pathlib.Path, n: int, values: int) -> list:
    rng = np.random.default_rng(0)
    base = {f"layers.{i}.weight": rng.standard_normal((values // 8 // 256, 256)).astype(np.float32) for i in range(8)}
    save_file(base, d / "base.safetensors")
    pairs = []
    for k in range(n):
        ck = {name: (t + 1e-3 * rng.standard_normal(t.shape)).astype(np.float32) if (i + k) % 2 == 0 else t for i, (name, t) in enumerate(base.items())}
        save_file(ck, d / f"ckpt-{k}.safetensors")
        pairs.append((str(d / "base.safetensors"), str(d / f"ckpt-{k}.safetensors")))
    return pairs


def timed(f):
    t = time.perf_counter()
    r = f()
    return time.perf_counter() - t, r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--bin", default="target/release/modeldiff")
    ap.add_argument("--models", default=os.environ.get("MODELDIFF_TEST_MODELS", "target/test-models"))
    args = ap.parse_args()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = pathlib.Path(tmp)
        pairs = small_pairs(d, args.pairs, 1 << 20)
        for a, b in pairs[:2]:
            modeldiff.diff(a, b)  # warm the page cache
        t_local, local = timed(lambda: [modeldiff.diff(a, b, threads=1) for a, b in pairs])
        out["local_call_ms_per_pair_1_thread"] = 1000 * t_local / len(pairs)
        t_local_all, _ = timed(lambda: [modeldiff.diff(a, b) for a, b in pairs])
        out["local_sequential_pairs_per_s_all_threads"] = len(pairs) / t_local_all

        manifest = d / "pairs.jsonl"
        manifest.write_text("".join(json.dumps({"a": a, "b": b}) + "\n" for a, b in pairs))
        t_batch, proc = timed(lambda: subprocess.run([args.bin, "batch", str(manifest)], check=True, capture_output=True))
        lines = proc.stdout.decode().splitlines()
        assert len(lines) == len(pairs)
        out["batch_pairs_per_s"] = len(pairs) / t_batch

        import ray

        from modeldiff.ray import diff_many

        t_init, _ = timed(lambda: ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False))
        out["ray_init_s"] = t_init
        diff_many(pairs[:4])  # start the workers and import modeldiff in them
        t_ray, reports = timed(lambda: diff_many(pairs))
        assert reports == local
        out["diff_many_pairs_per_s"] = len(pairs) / t_ray
        # One task at a time: its latency against the local call is the per-task cost.
        singles = []
        for a, b in pairs[:10]:
            t, _ = timed(lambda: diff_many([(a, b)]))
            singles.append(t)
        out["ray_task_ms_per_pair_one_at_a_time"] = 1000 * float(np.median(singles))
        out["ray_overhead_ms_per_task"] = out["ray_task_ms_per_pair_one_at_a_time"] - out["local_call_ms_per_pair_1_thread"]
        ray.shutdown()

        minilm = pathlib.Path(args.models) / "minilm-l6-v2.safetensors"
        if minilm.exists():
            from safetensors.numpy import load_file

            t = load_file(str(minilm))
            rng = np.random.default_rng(1)
            save_file({k: (v + 1e-3 * rng.standard_normal(v.shape)).astype(v.dtype) for k, v in t.items()}, d / "minilm-b.safetensors")
            two = [(str(minilm), str(d / "minilm-b.safetensors"))] * 2
            out["two_thread_pair"] = "MiniLM vs a perturbed copy (90 MB each)"
        else:
            big = small_pairs(d / "big", 1, 1 << 24) if (d / "big").mkdir() is None else None
            two = [big[0], big[0]]
            out["two_thread_pair"] = "generated, 16 Mi f32 values"
        for a, b in two:
            modeldiff.diff(a, b, threads=1)
        t_seq, _ = timed(lambda: [modeldiff.diff(a, b, threads=1) for a, b in two])
        threads = [threading.Thread(target=modeldiff.diff, args=p, kwargs={"threads": 1}) for p in two]

        def par():
            for th in threads:
                th.start()
            for th in threads:
                th.join()

        t_par, _ = timed(par)
        out["two_diffs_sequential_s"] = t_seq
        out["two_diffs_two_threads_s"] = t_par
        out["two_thread_speedup"] = t_seq / t_par
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
