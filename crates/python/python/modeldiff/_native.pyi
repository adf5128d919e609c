"""Type stubs of the native module ``modeldiff._native`` (Rust, PyO3, stable ABI).

Use the wrappers in :mod:`modeldiff` and :mod:`modeldiff.delta`; the ``*_json`` functions
return JSON text those wrappers parse.
"""

import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

_Path = Union[str, "os.PathLike[str]"]

def diff_json(
    a: _Path,
    b: _Path,
    *,
    include: List[str] = ...,
    exclude: List[str] = ...,
    threads: Optional[int] = ...,
    ignore_metadata: bool = ...,
    map: str = ...,
    rename: List[str] = ...,
    no_renames: bool = ...,
    qk_unpermute: str = ...,
    spectral: bool = ...,
    no_verify: bool = ...,
) -> str: ...
def inspect_json(path: _Path, no_verify: bool = ...) -> str: ...
def open(path: _Path, *, no_verify: bool = ...) -> Model: ...
def delta_extract(
    base: _Path,
    tuned: _Path,
    *,
    kind: str,
    output: _Path,
    rank: Optional[int] = ...,
    energy: Optional[float] = ...,
    max_rank: Optional[int] = ...,
    seed: int = ...,
    lora_embeddings: bool = ...,
    include: List[str] = ...,
    exclude: List[str] = ...,
) -> str: ...
def delta_apply(base: _Path, payload: _Path, *, output: _Path, dtype: str = ..., force: bool = ...) -> str: ...
def delta_verify(
    base: _Path, payload: _Path, *, target: Optional[_Path] = ..., max_rel_l2: Optional[float] = ...
) -> str: ...
def delta_show(payload: _Path) -> str: ...

class Model:
    """An open model; tensors by name as numpy arrays. Keeps the file mapped while any array
    made by :meth:`raw` is alive."""

    @property
    def path(self) -> str: ...
    @property
    def format(self) -> str:
        """``safetensors``, ``gguf``, ``apr``, ``pytorch``, ``onnx`` or ``numpy``."""
    @property
    def metadata(self) -> Dict[str, Any]:
        """Metadata in file order (GGUF key-values, SafeTensors ``__metadata__``, ...)."""
    def __len__(self) -> int: ...
    def __contains__(self, name: str) -> bool: ...
    def names(self) -> List[str]:
        """Tensor names in file order."""
    def dtype(self, name: str) -> str:
        """Stored dtype as reports name it: ``F32``, ``F16``, ``BF16``, ``Q8_0``, ``Q4_K``, ..."""
    def shape(self, name: str) -> Tuple[int, ...]:
        """Row-major shape (GGUF's ``ne`` reversed)."""
    def __getitem__(self, name: str) -> npt.NDArray[np.float32]:
        """The tensor decoded to a new, writable float32 array of its shape (any dtype;
        quantized types dequantized as llama.cpp does). Raises ``KeyError`` for an unknown name."""
    def raw(self, name: str) -> npt.NDArray[Any]:
        """The stored bytes as a read-only array viewing the model's memory (no copy).

        Plain types get their numpy dtype and the tensor's shape (``F16`` → ``float16``,
        ``BF16`` → ``uint16``: view it with ``ml_dtypes.bfloat16``, ``F8_*`` → ``uint8``);
        block-quantized, opaque and strided tensors are a flat ``uint8`` array of their bytes.
        If the bytes are not aligned for the dtype (possible in GGUF and SafeTensors), the
        result is an aligned copy instead. ``arr.base`` is a :class:`TensorBuffer` holding the model.
        """

class TensorBuffer:
    """The memory behind an array from :class:`Model` (its ``base``), via ``__array_interface__``."""

    @property
    def __array_interface__(self) -> Dict[str, Any]: ...
    @property
    def model(self) -> Optional[Model]:
        """The model whose bytes this buffer views; ``None`` for decoded values."""
    @property
    def is_mapped(self) -> bool:
        """Whether the array views the model's stored bytes in place."""
