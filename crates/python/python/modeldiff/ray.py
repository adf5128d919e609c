"""Many pairs at scale: diffs as Ray tasks, reports as Arrow tables.

Needs the optional extra: ``pip install "modeldiff[ray]"`` (from a clone:
``pip install "crates/python[ray]"``). ``import modeldiff`` never imports Ray or pyarrow.

Each pair is one Ray task that opens its two models where it runs (so paths must exist on every
node, for example a shared file system, or be ``hf://`` names in each node's Hugging Face cache)
and returns the pair's ``modeldiff.report.v1`` document; :func:`diff_many` returns them in input
order. Relative paths are made absolute on the driver first.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from . import diff as _diff

__all__ = ["diff_many", "to_arrow", "ArrowTables"]

PairLike = Union[Tuple[Any, Any], Sequence[Any], Dict[str, Any]]

_remote = {}


def _path(p: Any) -> str:
    s = os.fspath(p)
    if not isinstance(s, str):
        raise TypeError(f"paths must be str or os.PathLike[str], got {type(s).__name__}")
    return s if s.startswith("hf://") else os.path.abspath(s)


def _pairs(pairs: Iterable[PairLike]) -> List[Tuple[str, str]]:
    out = []
    for i, p in enumerate(pairs):
        if isinstance(p, dict):
            try:
                a, b = p["a"], p["b"]
            except KeyError as e:
                raise ValueError(f"pair {i}: missing key {e.args[0]!r}") from None
        else:
            try:
                a, b = p
            except (TypeError, ValueError):
                raise TypeError(f"pair {i}: expected (a, b) or {{'a': ..., 'b': ...}}, got {p!r}") from None
        out.append((_path(a), _path(b)))
    return out


def _diff_task(a: str, b: str, options: Dict[str, Any]) -> Dict[str, Any]:
    return _diff(a, b, **options)


def diff_many(
    pairs: Iterable[PairLike],
    *,
    address: Optional[str] = None,
    num_cpus: Optional[int] = None,
    task_cpus: float = 1,
    **diff_options: Any,
) -> List[Dict[str, Any]]:
    """Diff every ``(a, b)`` pair as a Ray task; the reports come back in input order.

    Equal, pair by pair, to ``[modeldiff.diff(a, b, **diff_options) for a, b in pairs]``.

    :param pairs: ``(a, b)`` tuples or ``{"a": ..., "b": ...}`` dicts of paths or ``hf://`` names.
    :param address: a cluster to connect to (``ray.init(address=...)``) when Ray is not yet
        initialized. Without it, and without a running ``ray.init``, a local Ray is started
        (and left running for the next call).
    :param num_cpus: CPUs of that local Ray (default: all).
    :param task_cpus: CPUs each task reserves; unless ``threads`` is given, each diff uses
        ``max(1, int(task_cpus))`` threads, so tasks do not oversubscribe their node.
    :param diff_options: keyword arguments of :func:`modeldiff.diff` (``include``, ``exclude``,
        ``threads``, ``map``, ...).
    :raises ModeldiffError: a pair cannot be read (Ray's ``RayTaskError`` wrapper is also an
        instance of the original class).
    """
    import ray

    items = _pairs(pairs)
    options = dict(diff_options)
    options.setdefault("threads", max(1, int(task_cpus)))
    # Check the options once on the driver rather than in every task.
    if "a" in options or "b" in options:
        raise TypeError("diff_many takes the models from pairs, not a=/b=")
    if not ray.is_initialized():
        ray.init(
            address=address,
            num_cpus=num_cpus if address is None else None,
            include_dashboard=False,
            logging_level="warning",
            log_to_driver=False,
        )
    key = float(task_cpus)
    if key not in _remote:
        _remote[key] = ray.remote(num_cpus=task_cpus, max_retries=0)(_diff_task)
    remote = _remote[key]
    refs = [remote.remote(a, b, options) for a, b in items]
    return ray.get(refs)


class ArrowTables(NamedTuple):
    """The two tables :func:`to_arrow` returns."""

    summary: Any
    """One row per pair: ``pair`` (input index), the two paths and formats, and every field of
    the report's ``summary``."""
    tensors: Any
    """One row per tensor of every pair: ``pair``, ``name``, ``change``, dtypes, shapes and
    every float metric (``None`` where not compared)."""


def _tensor_row(pair: int, t: Dict[str, Any]) -> Dict[str, Any]:
    row: Dict[str, Any] = {"pair": pair}
    for k, v in t.items():
        if k == "metrics":
            for mk, mv in (v or {}).items():
                if not isinstance(mv, (dict, list)):
                    row[mk] = mv
        elif isinstance(v, dict):
            continue
        elif k in ("shape_a", "shape_b") or not isinstance(v, list):
            row[k] = v
    return row


def _table(rows: List[Dict[str, Any]]):
    import pyarrow as pa

    keys: Dict[str, None] = {}
    for r in rows:
        for k in r:
            keys.setdefault(k, None)
    columns = {k: [r.get(k) for r in rows] for k in keys}
    arrays = {}
    for k, values in columns.items():
        try:
            arrays[k] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # Mixed ints and floats, or mixed kinds: floats if numeric, else strings.
            if all(v is None or isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                arrays[k] = pa.array([None if v is None else float(v) for v in values], pa.float64())
            else:
                arrays[k] = pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.table(arrays)


def to_arrow(reports: Sequence[Dict[str, Any]]) -> ArrowTables:
    """Flatten ``modeldiff.report.v1`` documents into two pyarrow tables (for Parquet).

    ``pyarrow.parquet.write_table(to_arrow(reports).summary, "summary.parquet")``.
    """
    summary_rows = []
    tensor_rows = []
    for i, r in enumerate(reports):
        row: Dict[str, Any] = {
            "pair": i,
            "a": r["a"]["path"],
            "b": r["b"]["path"],
            "format_a": r["a"].get("format"),
            "format_b": r["b"].get("format"),
        }
        for k, v in r["summary"].items():
            if not isinstance(v, (dict, list)):
                row[k] = v
        summary_rows.append(row)
        tensor_rows.extend(_tensor_row(i, t) for t in r.get("tensors", []))
    return ArrowTables(_table(summary_rows), _table(tensor_rows))
