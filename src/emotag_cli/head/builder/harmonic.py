"""Smooth fields on a triangle mesh: harmonic interpolation from a few fixed vertices.

A harmonic field minimises the Dirichlet energy sum over edges of (f_i - f_j)^2 with the given
vertices held at their values: the smoothest blend between them. The builder uses it for the jaw's
skinning weights (1 on the mandible, 0 on the upper face, free in between), for the surface of the
back of the head (radial offsets that meet the face oval and fade out), and to carry face
deformations onto the scalp. The Laplacian is the graph (uniform-weight) one: the meshes are
evenly sampled enough that cotangent weights would not change the result visibly.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg


def edges_of(faces: np.ndarray) -> np.ndarray:
    """Unique undirected edges ``[E, 2]`` (i < j) of triangles ``[F, 3]``."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(e, axis=1), axis=0)


def graph_laplacian(n: int, faces: np.ndarray) -> scipy.sparse.csr_matrix:
    """``[n, n]`` L = D - A of the mesh's edge graph (positive semi-definite)."""
    e = edges_of(faces)
    ones = np.ones(len(e))
    adj = scipy.sparse.coo_matrix((np.r_[ones, ones], (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])),
                                  shape=(n, n)).tocsr()
    return (scipy.sparse.diags(np.asarray(adj.sum(axis=1)).ravel()) - adj).tocsr()


def sub_laplacian(ids: np.ndarray, faces: np.ndarray) -> scipy.sparse.csr_matrix:
    """Graph Laplacian of the triangles whose corners all lie in ``ids``, indexed in ``ids``' order."""
    local = -np.ones(int(max(ids.max(), faces.max())) + 1, dtype=np.int64)
    local[ids] = np.arange(len(ids))
    inside = np.isin(faces, ids).all(axis=1)
    return graph_laplacian(len(ids), local[faces[inside]])


def harmonic_fill(laplacian: scipy.sparse.csr_matrix, fixed: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values at every vertex ``[n, C]``: ``values [K, C]`` at ``fixed [K]``, harmonic elsewhere.

    Each connected part of the free vertices must touch at least one fixed vertex.
    """
    n = laplacian.shape[0]
    values = np.asarray(values, dtype=np.float64).reshape(len(fixed), -1)
    out = np.zeros((n, values.shape[1]))
    out[fixed] = values
    free = np.setdiff1d(np.arange(n), fixed)
    if len(free):
        l_ff = laplacian[free][:, free].tocsc()
        rhs = -(laplacian[free][:, fixed] @ values)
        out[free] = scipy.sparse.linalg.splu(l_ff).solve(np.asarray(rhs))
    return out
