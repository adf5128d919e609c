"""The exceptions modeldiff raises (re-exported by :mod:`modeldiff`).

Every error from reading, decoding, diffing or writing models is a :class:`ModeldiffError`,
carrying the same one-line message the ``modeldiff`` command prints after ``modeldiff:``.
Bad arguments (an invalid regex, ``threads=0``, an unknown ``kind``) raise :class:`ValueError`
or :class:`TypeError` instead, before any file is opened; a missing tensor name raises
:class:`KeyError`; Ctrl-C during a call raises :class:`KeyboardInterrupt` once the engine has
stopped (within a second).
"""

from __future__ import annotations

__all__ = ["ModeldiffError", "FormatError", "IoError", "UnsupportedError", "DeltaError"]


class ModeldiffError(Exception):
    """Base class of every modeldiff error; ``str(err)`` is the CLI's one-line message."""


class FormatError(ModeldiffError):
    """A file is malformed, truncated, inconsistent, changed while read, or of no known format."""


class IoError(ModeldiffError, OSError):
    """The operating system refused to open, read, map or write a file (also an ``OSError``)."""


class UnsupportedError(ModeldiffError):
    """A known format, layout or dtype this build cannot read, or an unavailable SIMD choice."""


class DeltaError(ModeldiffError):
    """A ``model.diff.v1`` payload is invalid or does not fit the base model."""
