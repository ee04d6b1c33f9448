"""A background plate: the scene with the person removed."""

from __future__ import annotations

import numpy as np

from ..scene import MASK_BACKGROUND


def background_plate(frames: list[np.ndarray], labels: list[np.ndarray], dilate_px: int = 6) -> np.ndarray:
    """Per-pixel median of the frames where the pixel is background; the rest inpainted.

    frames: K RGB [S, S, 3] uint8 (an even sample of the clip); labels: K [S, S] uint8.
    The person mask is dilated first so that the soft edge of the segmentation (hair, shoulders)
    does not bleed into the plate. Pixels covered in every frame are filled by Telea inpainting.
    Returns RGB [S, S, 3] uint8.
    """
    import cv2

    kernel = np.ones((2 * dilate_px + 1, 2 * dilate_px + 1), np.uint8)
    stack = np.stack(frames).astype(np.float32)                      # [K, S, S, 3]
    bg = np.stack([cv2.erode((lab == MASK_BACKGROUND).astype(np.uint8), kernel) > 0 for lab in labels])
    stack[~bg] = np.nan
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)      # all-NaN pixels are handled below
            plate = np.nanmedian(stack, axis=0)                  # [S, S, 3]
    hole = np.isnan(plate).any(axis=2)
    plate = np.nan_to_num(plate, nan=0.0).clip(0, 255).astype(np.uint8)
    if hole.any():
        plate = cv2.inpaint(plate, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    return plate
