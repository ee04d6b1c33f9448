"""MediaPipe FaceMesh topology: the 468-vertex canonical face, its openings, and the 10 iris points.

The canonical mesh (``assets/mediapipe_canonical_face_model.obj``, Apache-2.0) has 898 triangles
and a single boundary, the face oval: its eyes and mouth are closed by triangles spanning the lid
and lip openings. A head model needs those openings (the jaw must part the lips, eyeballs must show
through the lids), so the spanning triangles — those whose three corners all lie on one opening's
inner contour — are dropped. Each iris gets a four-triangle fan (centre + ring) so its points can
be embedded as landmarks.

Index conventions (MediaPipe's): "right"/"left" are the subject's. Iris 468 (centre) and its ring
469 medial, 470 top, 471 lateral, 472 bottom belong to the right eye; 473 and 474 lateral, 475 top,
476 medial, 477 bottom to the left eye.
"""

from __future__ import annotations

import functools

import numpy as np

from ..canonical_face import MESH_FILE, asset_text, canonical_vertices

N_FACE = 468
N_LANDMARKS = 478

LIP_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIP_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIP_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIP_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
RIGHT_LID_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_LID_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_LID_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_LID_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
OPENINGS = {
    "mouth": (LIP_INNER_UPPER, LIP_INNER_LOWER),
    "right_eye": (RIGHT_LID_UPPER, RIGHT_LID_LOWER),
    "left_eye": (LEFT_LID_UPPER, LEFT_LID_LOWER),
}
# Eye corners (outer, inner) and irises (centre, ring medial/top/lateral/bottom).
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (263, 362)
RIGHT_IRIS = (468, 469, 470, 471, 472)
LEFT_IRIS = (473, 476, 475, 474, 477)  # same order as RIGHT_IRIS: centre, medial, top, lateral, bottom


@functools.lru_cache(maxsize=1)
def canonical_obj_faces() -> np.ndarray:
    """The OBJ's 898 triangles, int64 ``[898, 3]`` (0-based, counter-clockwise from outside)."""
    rows = [[int(tok.split("/")[0]) - 1 for tok in line.split()[1:4]]
            for line in asset_text(MESH_FILE).splitlines() if line.startswith("f ")]
    faces = np.asarray(rows, dtype=np.int64)
    faces.setflags(write=False)
    return faces


def face_triangles() -> np.ndarray:
    """Face-mesh triangles with the eye and mouth openings cut open: int64 ``[F, 3]`` (852)."""
    faces = canonical_obj_faces()
    keep = np.ones(len(faces), dtype=bool)
    for upper, lower in OPENINGS.values():
        rim = np.array(sorted(set(upper) | set(lower)))
        keep &= ~np.isin(faces, rim).all(axis=1)
    return faces[keep]


def iris_triangles(iris_points: np.ndarray) -> np.ndarray:
    """Fans over both irises, int64 ``[8, 3]``, oriented so their normals face +z (outwards).

    iris_points: ``[478, 3]`` positions (only rows 468..477 are read), z forward.
    """
    tris = []
    for centre, *ring in (RIGHT_IRIS, LEFT_IRIS):
        for a, b in zip(ring, ring[1:] + ring[:1]):
            t = [centre, a, b]
            n = np.cross(iris_points[a] - iris_points[centre], iris_points[b] - iris_points[centre])
            tris.append(t if n[2] > 0 else [centre, b, a])
    return np.asarray(tris, dtype=np.int64)


def boundary_loop(faces: np.ndarray) -> np.ndarray:
    """The longest boundary loop of a triangle mesh, int64 vertex ids in the faces' winding order."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = {tuple(e) for e in directed.tolist()}
    # A boundary edge has no twin running the other way; following them keeps the winding.
    nxt = {a: b for a, b in edges if (b, a) not in edges}
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, cur = [], start
        while cur not in seen:
            seen.add(cur)
            loop.append(cur)
            cur = nxt[cur]
        loops.append(loop)
    return np.asarray(max(loops, key=len), dtype=np.int64)


@functools.lru_cache(maxsize=1)
def mirror_index() -> np.ndarray:
    """For each of the 478 points, its left-right mirror partner (MediaPipe's mesh is symmetric)."""
    v = canonical_vertices()
    flipped = v * np.array([-1.0, 1.0, 1.0])
    dist = np.linalg.norm(flipped[:, None] - v[None], axis=-1)
    face = dist.argmin(axis=1)
    if dist.min(axis=1).max() > 1e-4:
        raise RuntimeError("the canonical face mesh is not left-right symmetric")
    iris = dict(zip(RIGHT_IRIS, LEFT_IRIS)) | dict(zip(LEFT_IRIS, RIGHT_IRIS))
    out = np.concatenate([face, [iris[i] for i in range(N_FACE, N_LANDMARKS)]]).astype(np.int64)
    out.setflags(write=False)
    return out
