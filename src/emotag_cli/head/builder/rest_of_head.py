"""Geometry around the face mesh: scalp and back of the head, ears, eyeballs and neck.

MediaPipe's mesh stops at the face oval. Gaussians need surfaces to bind to everywhere a head is
visible, so the builder adds (metres, canonical frame: x to the subject's left, y up, z forward):

- a **scalp** shell: a head-sized ellipsoid (separate semi-axes up/down and front/back) sampled
  with left-right symmetric directions, triangulated on the sphere of directions (the convex hull
  of unit vectors is their spherical Delaunay triangulation) together with the face oval, with the
  face's cap cut out, so the shell is stitched to the face edge; near the oval its radius is bent
  by a harmonic radial offset to meet the face, far from it the ellipsoid is kept;
- two **ears**: flattened closed ellipsoids pressed into the shell's sides (not stitched);
- two **eyeballs** behind the irises, whose vertex means are the eye joints;
- a **neck**: an elliptic tube from inside the head down to the collar, open at both ends.

The proportions (``HeadProportions``) are adult averages (head breadth ~15.8 cm, length ~19.4 cm
from the brow, vertex ~12 cm above the eyes, neck ~34 cm round), placed relative to MediaPipe's
canonical face. They are a plausible frame for binding Gaussians, not a measured scalp.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import ConvexHull

from .harmonic import graph_laplacian, harmonic_fill
from .topology import LEFT_IRIS, RIGHT_IRIS

GOLDEN_ANGLE = np.pi * (3.0 - np.sqrt(5.0))


@dataclass(frozen=True)
class HeadProportions:
    """Where the added geometry goes (metres, canonical frame)."""

    centre: tuple[float, float, float] = (0.0, 0.010, -0.045)  # ellipsoid centre of the skull
    half_width: float = 0.079
    up: float = 0.120
    down: float = 0.090
    front: float = 0.095
    back: float = 0.097
    n_directions: int = 560          # directions sampled on the whole sphere (about half survive)
    blend_angle: float = 0.55        # radians from the face oval beyond which the ellipsoid is kept
    ear_centre: tuple[float, float, float] = (0.081, 0.004, -0.050)  # left ear; the right is mirrored
    ear_radii: tuple[float, float, float] = (0.008, 0.030, 0.017)
    ear_tilt: float = 0.26           # radians, top of the ear leaning back
    ear_points: int = 40
    eyeball_radius: float = 0.012
    eyeball_depth: float = 0.012     # eyeball centre behind the iris centre: the iris sits on the ball
    eyeball_points: int = 42
    neck_top: tuple[float, float, float] = (0.0, -0.035, -0.055)   # inside the skull; the neck joint
    neck_bottom: tuple[float, float, float] = (0.0, -0.170, -0.045)  # the root joint
    neck_radii: tuple[float, float] = (0.052, 0.056)  # x, z
    neck_rings: int = 6
    neck_segments: int = 16


@dataclass
class RestOfHead:
    """Added vertices ``[M, 3]`` (they get ids n_face.. n_face+M-1), triangles in global ids, groups."""

    vertices: np.ndarray
    faces: np.ndarray
    groups: dict[str, np.ndarray] = field(default_factory=dict)  # name -> global vertex ids
    # scalp, scalp_far (beyond blend_angle from the face), ear_left/right, eyeball_left/right,
    # neck, neck_top, neck_bottom (its first and last rings)
    neck_t: np.ndarray | None = None  # [len(groups['neck'])] 0 at the top ring, 1 at the bottom


def sphere_points(n: int) -> np.ndarray:
    """``[n, 3]`` unit vectors spread evenly (Fibonacci lattice)."""
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(GOLDEN_ANGLE * i), r * np.sin(GOLDEN_ANGLE * i), z], axis=1)


def outward(faces: np.ndarray, points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Triangles re-wound so their normals point away from ``centre`` (star-shaped surfaces)."""
    a, b, c = (points[faces[:, k]] for k in range(3))
    flip = (np.cross(b - a, c - a) * ((a + b + c) / 3 - centre)).sum(axis=1) < 0
    out = faces.copy()
    out[flip] = out[flip][:, [0, 2, 1]]
    return out


def closed_blob(n: int, centre: np.ndarray, radii: np.ndarray, rotation: np.ndarray | None = None):
    """A closed triangulated ellipsoid: (vertices ``[n, 3]`` whose mean is exactly ``centre``, faces)."""
    unit = sphere_points(n)
    faces = outward(ConvexHull(unit).simplices.astype(np.int64), unit, np.zeros(3))
    local = unit * radii
    if rotation is not None:
        local = local @ rotation.T
    local -= local.mean(axis=0)
    return local + centre, faces


def ellipsoid_radius(u: np.ndarray, p: HeadProportions) -> np.ndarray:
    """Distance from the skull centre to the ellipsoid along unit directions ``u [K, 3]``."""
    ay = np.where(u[:, 1] >= 0, p.up, p.down)
    az = np.where(u[:, 2] >= 0, p.front, p.back)
    return 1.0 / np.sqrt((u[:, 0] / p.half_width) ** 2 + (u[:, 1] / ay) ** 2 + (u[:, 2] / az) ** 2)


def _stereo(u: np.ndarray) -> np.ndarray:
    """Stereographic projection from the back pole (0, 0, -1): the face cap lands around the origin."""
    return u[:, :2] / (1 + u[:, 2:3])


def _inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule: which of ``points [K, 2]`` lie inside the closed ``polygon [P, 2]``."""
    x, y = points[:, :1], points[:, 1:]
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (crosses & (x < x_at)).sum(axis=1) % 2 == 1


def _symmetric_directions(n: int) -> np.ndarray:
    """Unit vectors mirror-symmetric in x: a Fibonacci half plus its mirror plus the midline circle."""
    u = sphere_points(n)
    half = u[u[:, 0] > 0.06]
    n_mid = int(round(2 * np.pi / np.sqrt(4 * np.pi / n)))
    a = 2 * np.pi * (np.arange(n_mid) + 0.5) / n_mid
    mid = np.stack([np.zeros(n_mid), np.sin(a), np.cos(a)], axis=1)
    return np.concatenate([half, half * np.array([-1.0, 1.0, 1.0]), mid])


def _scalp(face_vertices: np.ndarray, oval: np.ndarray, p: HeadProportions):
    """Scalp vertices ``[K, 3]`` and triangles (ids: oval vertices global, new ones from -1 down)."""
    c = np.asarray(p.centre)
    rel = face_vertices[oval] - c
    u_oval = rel / np.linalg.norm(rel, axis=1, keepdims=True)
    poly = _stereo(u_oval)

    u = _symmetric_directions(p.n_directions)
    cos_to_oval = u @ u_oval.T
    spacing = np.median(np.arccos(np.clip((u_oval * np.roll(u_oval, -1, axis=0)).sum(1), -1, 1)))
    near = np.arccos(np.clip(cos_to_oval.max(axis=1), -1, 1)) < 0.6 * spacing
    u = u[~(_inside(_stereo(u), poly) | near | (u[:, 2] > 0.999))]

    k = len(u)
    allu = np.concatenate([u, u_oval])
    tri = ConvexHull(allu).simplices.astype(np.int64)
    on_oval = tri >= k
    cap = on_oval.all(axis=1) & _inside(_stereo(allu[tri].mean(axis=1)), poly)
    tri = outward(tri[~cap], allu, np.zeros(3))

    # Radial offset from the ellipsoid: matches the oval, harmonic in between, 0 far away.
    lap = graph_laplacian(k + len(oval), tri)
    angle = np.arccos(np.clip((u @ u_oval.T).max(axis=1), -1, 1))
    far = np.flatnonzero(angle > p.blend_angle)
    fixed = np.concatenate([far, k + np.arange(len(oval))])
    offset_oval = np.linalg.norm(rel, axis=1) - ellipsoid_radius(u_oval, p)
    offset = harmonic_fill(lap, fixed, np.concatenate([np.zeros(len(far)), offset_oval]))[:k, 0]
    vertices = c + u * (ellipsoid_radius(u, p) + offset)[:, None]

    # Local ids: new vertex j -> -(j + 1); oval slot m -> its face vertex id.
    ids = np.concatenate([-(np.arange(k) + 1), oval])
    return vertices, ids[tri], angle


def _neck(p: HeadProportions):
    top, bottom = np.asarray(p.neck_top), np.asarray(p.neck_bottom)
    t = np.linspace(0.0, 1.0, p.neck_rings)
    a = 2 * np.pi * np.arange(p.neck_segments) / p.neck_segments
    ring = np.stack([p.neck_radii[0] * np.sin(a), np.zeros_like(a), p.neck_radii[1] * np.cos(a)], axis=1)
    vertices = (top + t[:, None, None] * (bottom - top) + ring).reshape(-1, 3)
    s = p.neck_segments
    faces = []
    for r in range(p.neck_rings - 1):
        for j in range(s):
            a0, a1 = r * s + j, r * s + (j + 1) % s
            b0, b1 = a0 + s, a1 + s
            faces += [[a0, b0, a1], [a1, b0, b1]]
    axis_points = top + t[:, None] * (bottom - top)
    faces = np.asarray(faces, dtype=np.int64)
    # Outward from the tube's axis: test each triangle against its own ring's centre.
    centre_of = np.repeat(axis_points, s, axis=0)
    a_, b_, c_ = (vertices[faces[:, k]] for k in range(3))
    flip = (np.cross(b_ - a_, c_ - a_) * (a_ - centre_of[faces[:, 0]])).sum(axis=1) < 0
    faces[flip] = faces[flip][:, [0, 2, 1]]
    return vertices, faces, np.repeat(t, s)


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def build_rest_of_head(face_vertices: np.ndarray, oval: np.ndarray, p: HeadProportions = HeadProportions()
                       ) -> RestOfHead:
    """Scalp, ears, eyeballs and neck around ``face_vertices [478, 3]`` (metres; irises at 468..477).

    oval: the face mesh's boundary loop (vertex ids in the face triangles' winding).
    """
    n0 = len(face_vertices)
    scalp_v, scalp_f, angle = _scalp(face_vertices, oval, p)
    blobs = []  # (name, vertices, faces in local ids)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        centre = np.asarray(p.ear_centre) * np.array([sign, 1.0, 1.0])
        blobs.append((f"ear_{side}", *closed_blob(p.ear_points, centre, np.asarray(p.ear_radii),
                                                  _rot_x(-p.ear_tilt))))
    for side, iris in (("left", LEFT_IRIS), ("right", RIGHT_IRIS)):
        centre = face_vertices[iris[0]] - np.array([0.0, 0.0, p.eyeball_depth])
        blobs.append((f"eyeball_{side}", *closed_blob(p.eyeball_points, centre, np.full(3, p.eyeball_radius))))

    vertices = [scalp_v]
    next_id = n0 + len(scalp_v)
    # Scalp faces: negative ids are new scalp vertices.
    faces = [np.where(scalp_f < 0, n0 + (-scalp_f - 1), scalp_f)]
    groups = {"scalp": np.arange(n0, next_id)}
    groups["scalp_far"] = groups["scalp"][angle > p.blend_angle]  # kept on the ellipsoid
    for name, v, f in blobs:
        vertices.append(v)
        faces.append(f + next_id)
        groups[name] = np.arange(next_id, next_id + len(v))
        next_id += len(v)
    neck_v, neck_f, neck_t = _neck(p)
    vertices.append(neck_v)
    faces.append(neck_f + next_id)
    groups["neck"] = np.arange(next_id, next_id + len(neck_v))
    groups["neck_top"] = groups["neck"][: p.neck_segments]
    groups["neck_bottom"] = groups["neck"][-p.neck_segments:]
    return RestOfHead(np.concatenate(vertices), np.concatenate(faces), groups, neck_t)
