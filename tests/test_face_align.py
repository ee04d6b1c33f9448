"""Face boxes and square crops from landmarks."""

from __future__ import annotations

import numpy as np

from emotag_cli.preprocess.face_align import crop_square, has_face, landmark_boxes, square_boxes


def test_boxes_from_landmarks():
    lm = np.zeros((2, 478, 3), np.float32)
    lm[0, :, 0] = np.linspace(10, 50, 478)  # x 10..50
    lm[0, :, 1] = np.linspace(20, 100, 478)  # y 20..100
    lm[1] = np.nan
    lm[0, 5, 2] = np.nan  # a missing z does not matter
    assert has_face(lm).tolist() == [True, False]
    boxes = landmark_boxes(lm)
    np.testing.assert_allclose(boxes[0], [10, 20, 50, 100])
    assert np.isnan(boxes[1]).all()
    # extent 80 -> side 1.5 * 80 = 120, centre (30, 60) moved up by 0.1 * 80.
    np.testing.assert_allclose(square_boxes(boxes, 1.5, -0.1)[0], [-30, -8, 90, 112])


def test_crop_square_inside_and_across_the_border():
    image = np.tile(np.arange(40, dtype=np.uint8), (40, 1)) + 3 * np.arange(40, dtype=np.uint8)[:, None]
    np.testing.assert_array_equal(crop_square(image, np.array([5, 7, 15, 17.0]), 10), image[7:17, 5:15])
    # Half outside on the left/top: the edge pixels repeat.
    crop = crop_square(image, np.array([-4, -4, 6, 6.0]), 10)
    np.testing.assert_array_equal(crop[4:, 4:], image[:6, :6])
    np.testing.assert_array_equal(crop[:4, 4:], np.repeat(image[:1, :6], 4, axis=0))
    rgb = np.stack([image] * 3, axis=-1)
    assert crop_square(rgb, np.array([0, 0, 40, 40.0]), 20).shape == (20, 20, 3)
    # Area downscaling: a 2x2 block average.
    np.testing.assert_allclose(crop_square(image, np.array([0, 0, 4, 4.0]), 2),
                               image[:4, :4].reshape(2, 2, 2, 2).mean(axis=(1, 3)), atol=0.5)
