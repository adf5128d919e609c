"""modeldiff: tells exactly how two ML model weight files differ.

Python bindings of the ``modeldiff`` Rust engine. The functions mirror the command line and its
JSON schemas:

- :func:`diff` returns the ``modeldiff.report.v1`` document (``modeldiff diff A B --format json``);
- :func:`inspect` returns the ``modeldiff.inspect.v1`` document (``modeldiff inspect F --format json``);
- :func:`open` opens a model and hands out its tensors as numpy arrays;
- :mod:`modeldiff.delta` extracts, applies, verifies and shows ``model.diff.v1`` payloads;
- :mod:`modeldiff.ray` (optional extra ``ray``) diffs many pairs as Ray tasks.

Every call releases the GIL while Rust works (other Python threads keep running; two threads
diffing two pairs run in parallel) and honours Ctrl-C within a second. Errors are
:class:`ModeldiffError` subclasses (see :mod:`modeldiff._errors`).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, Optional, Sequence, Union

from . import _native
from ._errors import DeltaError, FormatError, IoError, ModeldiffError, UnsupportedError
from ._native import Model, TensorBuffer

__all__ = [
    "diff",
    "inspect",
    "open",
    "Model",
    "TensorBuffer",
    "ModeldiffError",
    "FormatError",
    "IoError",
    "UnsupportedError",
    "DeltaError",
    "__version__",
]

__version__: str = _native.__version__

PathLike = Union[str, "os.PathLike[str]"]


def _patterns(name: str, value: Union[None, str, Iterable[str]]) -> list:
    """``None`` → ``[]``, one string → ``[it]``, an iterable of strings → a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{name} must be a string or a list of strings, got {type(value).__name__}") from None
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{name} must hold strings, got {type(item).__name__}")
    return items


def _threads(threads: Optional[int]) -> Optional[int]:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be an int or None, got {type(threads).__name__}")
    if threads < 1:
        raise ValueError("threads must be at least 1")
    return threads


def diff(
    a: PathLike,
    b: PathLike,
    *,
    include: Union[None, str, Sequence[str]] = None,
    exclude: Union[None, str, Sequence[str]] = None,
    threads: Optional[int] = None,
    ignore_metadata: bool = False,
    map: str = "auto",
    rename: Union[None, str, Sequence[str]] = None,
    no_renames: bool = False,
    qk_unpermute: str = "auto",
    spectral: bool = False,
    no_verify: bool = False,
) -> Dict[str, Any]:
    """Compare model ``a`` (old) with model ``b`` (new), tensor by tensor.

    Returns the ``modeldiff.report.v1`` document as Python objects: exactly what
    ``modeldiff diff A B --format json`` prints for the same inputs and options (NaN and
    infinite metrics are ``None``, as they are ``null`` there).

    :param a, b: model files in any format modeldiff reads (SafeTensors, sharded checkpoints,
        GGUF, APR, PyTorch, ONNX, NumPy) or ``hf://ORG/NAME[@REV][/FILE]`` names in the local
        Hugging Face cache.
    :param include: only tensors whose name matches one of these regexes (``--include``).
    :param exclude: skip tensors whose name matches one of these regexes (``--exclude``).
    :param threads: worker threads (default: one per core) (``--threads``).
    :param ignore_metadata: leave metadata out (``--ignore-metadata``).
    :param map: ``"auto"`` (HF ↔ GGUF name tables), ``"none"``, or a JSON/TOML map file (``--map``).
    :param rename: sed-style rules ``s/REGEX/REPL/`` applied to B's names (``--rename``).
    :param no_renames: no rename detection by content (``--no-renames``).
    :param qk_unpermute: ``"auto"``, ``"on"`` or ``"off"`` (``--qk-unpermute``).
    :param spectral: add the spectrum of ΔW for changed 2-D tensors (``--spectral``).
    :param no_verify: skip checksum verification (``--no-verify``).
    :raises ModeldiffError: a model cannot be read (its subclasses say why).
    :raises ValueError, TypeError: a bad argument.
    """
    text = _native.diff_json(
        a,
        b,
        include=_patterns("include", include),
        exclude=_patterns("exclude", exclude),
        threads=_threads(threads),
        ignore_metadata=bool(ignore_metadata),
        map=map,
        rename=_patterns("rename", rename),
        no_renames=bool(no_renames),
        qk_unpermute=qk_unpermute,
        spectral=bool(spectral),
        no_verify=bool(no_verify),
    )
    return json.loads(text)


def inspect(path: PathLike, *, no_verify: bool = False) -> Dict[str, Any]:
    """Describe one model: the ``modeldiff.inspect.v1`` document of ``modeldiff inspect --format json``.

    :raises ModeldiffError: the model cannot be read.
    """
    return json.loads(_native.inspect_json(path, no_verify=bool(no_verify)))


def open(path: PathLike, *, no_verify: bool = False) -> Model:  # noqa: A001 (mirrors the CLI verb)
    """Open a model and keep it open (memory-mapped where the format allows).

    ``len(m)``, ``m.names()``, ``m.dtype(name)``, ``m.shape(name)``, ``name in m``,
    ``m[name]`` (a float32 numpy array, any dtype decoded), ``m.raw(name)`` (the stored bytes,
    zero-copy) and ``m.metadata``; see :class:`Model`.

    :raises ModeldiffError: the model cannot be read.
    """
    return _native.open(path, no_verify=bool(no_verify))
