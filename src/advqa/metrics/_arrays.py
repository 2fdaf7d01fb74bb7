"""Validation shared by the score metrics: one finite float per video."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from advqa.errors import InputError


def score_vector(name: str, values: ArrayLike) -> NDArray[np.float64]:
    """``values`` as a finite float64 ``(N,)`` array, or an InputError naming the problem."""
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a 1-D sequence of numbers: {exc}") from None
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise InputError(f"{name} must be 1-D (one score per video), got shape {a.shape}")
    if a.size == 0:
        raise InputError(f"{name} is empty: need one score per video")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise InputError(f"{name} has a non-finite value ({a[bad[0]]}) at index {int(bad[0])}; "
                         "drop or re-score those videos first")
    return a


def score_vectors(**named: ArrayLike) -> list[NDArray[np.float64]]:
    """Several :func:`score_vector` arrays that must have one entry per video each (same length)."""
    arrays = [score_vector(k, v) for k, v in named.items()]
    sizes = {k: a.size for k, a in zip(named, arrays)}
    if len(set(sizes.values())) > 1:
        raise InputError("score arrays must have one entry per video and the same length, got "
                         + ", ".join(f"{k}={n}" for k, n in sizes.items()))
    return arrays
