"""Crop planning: a square that holds the face in every frame and stays inside the frame."""

from __future__ import annotations

import numpy as np
import pytest

from emotag_cli.errors import EmotagError
from emotag_cli.preprocess.crop import apply_crop, crop_track, fill_missing


def moving_boxes(n=100, w=1920, h=1080, face=300.0, amp=80.0):
    t = np.arange(n)
    cx = w / 2 + amp * np.sin(t / 10)
    cy = h / 2 + 0.5 * amp * np.cos(t / 13)
    return np.stack([cx - face / 2, cy - face / 2, cx + face / 2, cy + face / 2], 1).astype(np.float32)


def test_fixed_crop_is_constant_and_contains_every_face():
    boxes = moving_boxes()
    crops = crop_track(boxes, 1920, 1080, scale=1.9, mode="fixed")
    assert np.allclose(crops, crops[0])
    cx, cy, side = crops[0]
    assert side >= 1.9 * 300 - 1e-3
    assert np.all(boxes[:, 0] >= cx - side / 2) and np.all(boxes[:, 2] <= cx + side / 2)
    assert np.all(boxes[:, 1] >= cy - side / 2) and np.all(boxes[:, 3] <= cy + side / 2)


def test_smooth_crop_follows_slowly_and_keeps_its_side():
    boxes = moving_boxes(amp=200)
    crops = crop_track(boxes, 1920, 1080, mode="smooth", smooth_frames=5)
    assert np.ptp(crops[:, 2]) == 0
    step = np.abs(np.diff(crops[:, :2], axis=0)).max()
    raw_step = np.abs(np.diff((boxes[:, :2] + boxes[:, 2:]) / 2, axis=0)).max()
    assert step < raw_step
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    assert np.abs(crops[:, 0] - centre[:, 0]).max() < 100   # it does follow the head


def test_crop_is_clamped_inside_small_frames():
    boxes = moving_boxes(w=512, h=512, face=300, amp=10)
    crops = crop_track(boxes, 512, 512, scale=1.9)
    cx, cy, side = crops[0]
    assert side == 512 and cx == 256 and cy == 256


def test_missing_rows_are_interpolated_and_all_missing_is_an_error():
    boxes = moving_boxes(n=10)
    holed = boxes.copy()
    holed[3:6] = np.nan
    filled = fill_missing(holed)
    assert np.allclose(filled[[0, 1, 2, 6, 7, 8, 9]], boxes[[0, 1, 2, 6, 7, 8, 9]])
    assert np.allclose(filled[4], (boxes[2] + (boxes[6] - boxes[2]) * 2 / 4), atol=1e-3)
    with pytest.raises(EmotagError, match="no face"):
        fill_missing(np.full((4, 4), np.nan))


def test_apply_crop_maps_the_square_to_the_output():
    img = np.zeros((400, 600, 3), np.uint8)
    img[150:250, 300:400] = 255                       # a white square centred at (350, 200)
    out = apply_crop(img, np.array([350, 200, 200], np.float32), 100)
    assert out.shape == (100, 100, 3)
    ys, xs = np.nonzero(out[:, :, 0] > 128)
    assert abs(xs.mean() - 49.5) < 1 and abs(ys.mean() - 49.5) < 1
    assert 45 <= xs.max() - xs.min() + 1 <= 55       # 100 px → 50 px at half scale
