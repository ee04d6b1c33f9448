"""Pictures of a head model's expression components and joints, for a person to look at.

    python scripts/render_head_model.py [--model open|PATH.npz] [--components 4] [-o OUT.png]

Rows: expression component k at -3 and +3 standard deviations (front, then from the side), then
the jaw opened by 0.15 and 0.3 rad, then the whole head from four sides. Vertices are shaded by how
far they moved (grey = still, red = 8 mm or more). A small painter's-algorithm renderer (OpenCV
polygon fills, orthographic view, back faces culled), enough for inspection.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from emotag_cli.head import HeadModel, HeadPose, flame_forward
from emotag_cli.head.open_model import load_open_model

GREY = np.array([200.0, 200.0, 200.0])
RED = np.array([40.0, 60.0, 230.0])  # BGR


def view_rotation(elevation: float, azimuth: float) -> np.ndarray:
    """World → camera rotation for a camera circling the head (degrees; azimuth 90 = from its left)."""
    a, e = np.radians(azimuth), np.radians(elevation)
    ry = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
    return rx @ ry


def render(verts: np.ndarray, faces: np.ndarray, colors: np.ndarray, azimuth: float = 0.0,
           elevation: float = 0.0, size: int = 260, metres: float = 0.17,
           centre=(0.0, -0.005, 0.03)) -> np.ndarray:
    """BGR uint8 image of the mesh seen from (elevation, azimuth), ``metres`` across the image."""
    img = np.full((size, size, 3), 255, np.uint8)
    p = (verts - np.asarray(centre)) @ view_rotation(elevation, azimuth).T
    tri = p[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    light = np.array([0.3, 0.4, 1.0]) / np.linalg.norm([0.3, 0.4, 1.0])
    shade = np.clip(n @ light, 0, 1) * 0.75 + 0.25
    scale = size / metres
    xy = np.stack([size / 2 + scale * tri[..., 0], size / 2 - scale * tri[..., 1]], axis=-1)
    for t in np.argsort(tri[..., 2].mean(axis=1)):                      # far to near
        if n[t, 2] <= 0:
            continue
        pts = np.round(xy[t] * 16).astype(np.int32)
        color = tuple(int(c) for c in colors[t] * shade[t])
        cv2.fillConvexPoly(img, pts, color, lineType=cv2.LINE_AA, shift=4)
        cv2.polylines(img, [pts], True, (90, 90, 90), 1, cv2.LINE_AA, shift=4)
    return img


def posed(model: HeadModel, **values) -> np.ndarray:
    pose = HeadPose.zeros(1, model.n_shape, model.n_expr)
    for name, value in values.items():
        getattr(pose, name)[0, : len(value)] = torch.as_tensor(value, dtype=torch.float32)
    with torch.no_grad():
        return flame_forward(model, pose)[0].numpy()


def motion_colors(verts: np.ndarray, rest: np.ndarray, faces: np.ndarray, full: float = 0.008) -> np.ndarray:
    t = np.clip(np.linalg.norm(verts - rest, axis=1)[faces].mean(axis=1) / full, 0, 1)[:, None]
    return GREY * (1 - t) + RED * t


def labelled(images: list[np.ndarray], text: str) -> np.ndarray:
    row = np.concatenate(images, axis=1)
    cv2.putText(row, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 170), 1, cv2.LINE_AA)
    return row


def sheet(model: HeadModel, components: int) -> np.ndarray:
    faces = model.faces.numpy()
    rest = posed(model)

    def shot(verts, azimuth=0.0, **kw):
        return render(verts, faces, motion_colors(verts, rest, faces), azimuth, **kw)

    rows = []
    for k in range(components):
        lo, hi = (posed(model, expr=np.eye(model.n_expr)[k] * s) for s in (-3.0, 3.0))
        rows.append(labelled([shot(lo), shot(hi), shot(lo, 70), shot(hi, 70)],
                             f"expression {k}: -3 sd, +3 sd | side -3, +3"))
    jaws = [posed(model, jaw=[a, 0.0, 0.0]) for a in (0.15, 0.3)]
    rows.append(labelled([shot(jaws[0]), shot(jaws[1]), shot(jaws[0], 70), shot(jaws[1], 70)],
                         "jaw 0.15 rad, 0.3 rad | side"))
    whole = dict(metres=0.36, centre=(0.0, -0.03, -0.02))
    rows.append(labelled([shot(rest, a, **whole) for a in (0, 90, 35, 180)], "template: front, left, 3/4, back"))
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="open", help="'open' (the shipped asset) or an open-model .npz")
    ap.add_argument("--components", type=int, default=4)
    ap.add_argument("-o", "--out", type=Path, default=Path("head_model_components.png"))
    args = ap.parse_args(argv)
    model = load_open_model(None if args.model == "open" else args.model)
    cv2.imwrite(str(args.out), sheet(model, args.components))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
