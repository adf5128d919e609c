"""``model.diff.v1`` payloads: the ``modeldiff delta`` commands as functions.

Each returns the JSON document the CLI prints with ``--format json`` (for :func:`apply`, which
the CLI reports in a sentence, the apply report: ``tensors``, ``updated``, ``bytes``,
``warnings``). Outputs are written atomically and never over an input. A payload file is JSON
when its name ends in ``.json``, else a SafeTensors container.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Sequence, Union

from . import _native
from . import PathLike, _patterns

__all__ = ["extract", "apply", "verify", "show"]


def extract(
    base: PathLike,
    tuned: PathLike,
    *,
    kind: str,
    output: PathLike,
    rank: Optional[int] = None,
    energy: Optional[float] = None,
    max_rank: Optional[int] = None,
    seed: int = 0,
    lora_embeddings: bool = False,
    include: Union[None, str, Sequence[str]] = None,
    exclude: Union[None, str, Sequence[str]] = None,
) -> Dict[str, Any]:
    """Extract a payload turning ``base`` into ``tuned`` (``modeldiff delta extract``).

    :param kind: ``"full"``, ``"lora"`` (needs ``rank`` or ``energy``) or ``"ia3"``.
    :param output: the payload file (``.json``: JSON; anything else: SafeTensors container).
    :returns: the extract report (entries with kind, rank, energy, relative error, fixups;
        skipped tensors; payload, base and target digests).
    """
    return json.loads(
        _native.delta_extract(
            base,
            tuned,
            kind=kind,
            output=output,
            rank=rank,
            energy=energy,
            max_rank=max_rank,
            seed=seed,
            lora_embeddings=bool(lora_embeddings),
            include=_patterns("include", include),
            exclude=_patterns("exclude", exclude),
        )
    )


def apply(
    base: PathLike,
    payload: PathLike,
    *,
    output: PathLike,
    dtype: str = "keep",
    force: bool = False,
) -> Dict[str, Any]:
    """Apply ``payload`` to ``base`` and write the result as SafeTensors (``modeldiff delta apply``).

    :param dtype: ``"keep"``, ``"f32"``, ``"f16"`` or ``"bf16"``.
    :param force: apply even if the base's digest differs from the payload's.
    """
    return json.loads(_native.delta_apply(base, payload, output=output, dtype=dtype, force=bool(force)))


def verify(
    base: PathLike,
    payload: PathLike,
    *,
    target: Optional[PathLike] = None,
    max_rel_l2: Optional[float] = None,
) -> Dict[str, Any]:
    """Check a payload's digests, its fit to ``base`` and (with ``target``) that applying it
    reproduces ``target`` (``modeldiff delta verify``). The result's ``ok`` is the verdict."""
    return json.loads(_native.delta_verify(base, payload, target=target, max_rel_l2=max_rel_l2))


def show(payload: PathLike) -> Dict[str, Any]:
    """Describe a payload: parts, entries, ranks, sizes, digests (``modeldiff delta show``)."""
    return json.loads(_native.delta_show(payload))
