"""Linear bases from landmark data: weighted, uncentred PCA and the carrying of face fields to the head.

Expression components are principal directions of the non-rigid residual about each subject's
neutral face (uncentred: expression 0 is the neutral, so the mean expression is part of what the
basis must span). Each clip weighs the same in total however long it is. Components are returned
scaled to one standard deviation, FLAME-style, so unit-variance coefficients are typical.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from .harmonic import harmonic_fill


def weighted_pca(samples: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Principal directions of the pooled samples, each group weighing 1.

    samples: groups of rows, each ``[N_g, D]``. Returns (``dirs [D, K]`` orthonormal columns,
    ``variance [K]`` second moment along each, total second moment) with K = min(n, rank).
    Each direction's sign is fixed so that its largest-magnitude entry is positive (reproducible).
    """
    rows = [s / np.sqrt(len(s) * len(samples)) for s in samples if len(s)]
    m = np.concatenate(rows)
    _, sv, vt = np.linalg.svd(m, full_matrices=False)
    k = min(n, int((sv > sv[0] * 1e-9).sum()))
    dirs = vt[:k].T
    dirs *= np.sign(dirs[np.abs(dirs).argmax(axis=0), np.arange(k)])
    return dirs, sv[:k] ** 2, float((m * m).sum())


def extension_operator(laplacian: scipy.sparse.csr_matrix, source: np.ndarray, zero: np.ndarray):
    """A function carrying values on ``source`` vertices harmonically onto the rest (0 on ``zero``).

    ``laplacian`` is that of one connected mesh whose vertex ids ``source`` and ``zero`` index.
    Returns ``extend(values [len(source), C]) -> [n, C]``.
    """
    fixed = np.concatenate([source, zero])

    def extend(values: np.ndarray) -> np.ndarray:
        values = values.reshape(len(source), -1)
        return harmonic_fill(laplacian, fixed, np.concatenate([values, np.zeros((len(zero), values.shape[1]))]))

    return extend
