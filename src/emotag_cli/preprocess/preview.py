"""A contact sheet of a scene for a person to inspect: frames with landmarks and mask tint."""

from __future__ import annotations

import numpy as np

from ..scene import MASK_HEAD, MASK_TORSO

TINT = {MASK_HEAD: (255, 80, 80), MASK_TORSO: (80, 160, 255)}


def annotate(rgb: np.ndarray, labels: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
    """rgb [S, S, 3] uint8, labels [S, S], landmarks [478, 3] → annotated copy [S, S, 3] uint8.

    Head pixels are tinted red, torso blue, the background left as is; landmarks are green dots
    (iris points yellow).
    """
    import cv2

    out = rgb.astype(np.float32)
    for label, colour in TINT.items():
        sel = labels == label
        out[sel] = 0.65 * out[sel] + 0.35 * np.array(colour, np.float32)
    out = out.clip(0, 255).astype(np.uint8)
    if landmarks is not None and not np.isnan(landmarks).any():
        r = max(1, rgb.shape[0] // 256)
        for k, (x, y) in enumerate(landmarks[:, :2]):
            colour = (255, 230, 0) if k >= 468 else (0, 255, 0)
            cv2.circle(out, (int(round(x)), int(round(y))), r, colour, -1, lineType=cv2.LINE_AA)
    return out


def contact_sheet(tiles: list[np.ndarray], columns: int = 4, tile: int = 256) -> np.ndarray:
    """Tiles [S, S, 3] → one RGB image of ``columns`` tiles per row, each resized to ``tile``."""
    import cv2

    tiles = [cv2.resize(t, (tile, tile), interpolation=cv2.INTER_AREA) for t in tiles]
    rows = -(-len(tiles) // columns)
    sheet = np.zeros((rows * tile, columns * tile, 3), np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, columns)
        sheet[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = t
    return sheet
