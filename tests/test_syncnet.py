"""SyncNet v2 (Sync-C / Sync-E): loading a state dict of the published layout, the network's
geometry, the MFCC front end, the face crop and the offset search, then ``emotag eval`` with
random weights on a short real clip.

The real ``syncnet_v2.model`` is not available here; the state dict below is written from the layer
table of joonson/syncnet_python's ``SyncNetModel.S`` (names as its ``SyncNetInstance.loadParameters``
copies them: no prefix, BatchNorm statistics included, no ``num_batches_tracked`` as in a file
saved by old PyTorch).
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emotag_cli.errors import EmotagError, MissingBackendError
from emotag_cli.evaluation import sync, syncnet
from emotag_cli.evaluation.run import evaluate
from emotag_cli.evaluation.video_io import open_video

from _media import real_frames, write_video
from conftest import real_video

# index in the Sequential -> weight shape; a BatchNorm follows each convolution at index + 1.
AUDIO_CONVS = {0: (64, 1, 3, 3), 4: (192, 64, 3, 3), 8: (384, 192, 3, 3), 11: (256, 384, 3, 3),
               14: (256, 256, 3, 3), 18: (512, 256, 5, 4)}
LIP_CONVS = {0: (96, 3, 5, 7, 7), 4: (256, 96, 1, 5, 5), 8: (256, 256, 1, 3, 3), 11: (256, 256, 1, 3, 3),
             14: (256, 256, 1, 3, 3), 18: (512, 256, 1, 6, 6)}


def _bn(state: dict, name: str, c: int, g: torch.Generator) -> None:
    state[f"{name}.weight"] = 1 + 0.1 * torch.randn(c, generator=g)
    state[f"{name}.bias"] = 0.1 * torch.randn(c, generator=g)
    state[f"{name}.running_mean"] = 0.1 * torch.randn(c, generator=g)
    state[f"{name}.running_var"] = 0.5 + torch.rand(c, generator=g)


def random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the key layout of ``syncnet_v2.model`` (He-scaled, so activations stay finite)."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for branch, convs in (("netcnnaud", AUDIO_CONVS), ("netcnnlip", LIP_CONVS)):
        for i, shape in convs.items():
            fan_in = math.prod(shape[1:])
            state[f"{branch}.{i}.weight"] = torch.randn(*shape, generator=g) * (2 / fan_in) ** 0.5
            state[f"{branch}.{i}.bias"] = 0.01 * torch.randn(shape[0], generator=g)
            _bn(state, f"{branch}.{i + 1}", shape[0], g)
    for head in ("netfcaud", "netfclip"):
        for i, (out, inp) in ((0, (512, 512)), (3, (1024, 512))):
            state[f"{head}.{i}.weight"] = torch.randn(out, inp, generator=g) * (2 / inp) ** 0.5
            state[f"{head}.{i}.bias"] = 0.01 * torch.randn(out, generator=g)
        _bn(state, f"{head}.1", 512, g)
    return state


def _reference_embedding(x: torch.Tensor, state: dict, branch: str, head: str) -> torch.Tensor:
    """The branch written out with torch.nn.functional from syncnet_python's layer table."""
    if branch == "netcnnaud":
        conv, pool = F.conv2d, F.max_pool2d
        steps = [(0, 1, 1, None), (4, 1, 1, (3, (1, 2), 0)), (8, 1, 1, None), (11, 1, 1, None),
                 (14, 1, 1, (3, 2, 0)), (18, 1, 0, None)]
    else:
        conv, pool = F.conv3d, F.max_pool3d
        pool_a, pool_b = ((1, 3, 3), (1, 2, 2), 0), ((1, 3, 3), (1, 2, 2), (0, 1, 1))
        steps = [(0, (1, 2, 2), 0, pool_a), (4, (1, 2, 2), (0, 1, 1), pool_b), (8, 1, (0, 1, 1), None),
                 (11, 1, (0, 1, 1), None), (14, 1, (0, 1, 1), pool_a), (18, 1, 0, None)]
    for i, stride, padding, pooling in steps:
        x = conv(x, state[f"{branch}.{i}.weight"], state[f"{branch}.{i}.bias"], stride=stride, padding=padding)
        b = f"{branch}.{i + 1}"
        x = F.relu(F.batch_norm(x, state[f"{b}.running_mean"], state[f"{b}.running_var"],
                                state[f"{b}.weight"], state[f"{b}.bias"], eps=1e-5))
        if pooling:
            x = pool(x, *pooling)
    x = F.linear(x.flatten(1), state[f"{head}.0.weight"], state[f"{head}.0.bias"])
    x = F.relu(F.batch_norm(x, state[f"{head}.1.running_mean"], state[f"{head}.1.running_var"],
                            state[f"{head}.1.weight"], state[f"{head}.1.bias"], eps=1e-5))
    return F.linear(x, state[f"{head}.3.weight"], state[f"{head}.3.bias"])


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """(state dict, path of it saved as syncnet_v2.model in an EMOTAG_HOME layout)."""
    home = tmp_path_factory.mktemp("emotag_home")
    (home / "syncnet").mkdir()
    state = random_state_dict()
    torch.save(state, home / "syncnet" / "syncnet_v2.model")
    return state, home / "syncnet" / "syncnet_v2.model"


# ---------------------------------------------------------------- loading and the network

def test_the_published_layout_loads_and_both_embeddings_match_the_layer_table(weights):
    state, path = weights
    model = syncnet.load_syncnet(path)
    torch.manual_seed(0)
    mfcc = torch.randn(3, 1, 13, 20) * 10
    frames = torch.rand(2, 3, 5, 224, 224) * 255     # BGR 0..255, as syncnet_python feeds them
    with torch.no_grad():
        audio, lips = model.audio(mfcc), model.lips(frames)
        assert audio.shape == (3, 1024) and lips.shape == (2, 1024)
        assert torch.isfinite(audio).all() and torch.isfinite(lips).all()
        assert torch.allclose(audio, _reference_embedding(mfcc, state, "netcnnaud", "netfcaud"), rtol=1e-4, atol=1e-4)
        assert torch.allclose(lips, _reference_embedding(frames, state, "netcnnlip", "netfclip"), rtol=1e-4, atol=1e-3)


def test_a_state_dict_with_num_batches_tracked_loads_too(tmp_path, weights):
    state, _ = weights
    full = syncnet.SyncNet().state_dict()                  # as saved by a recent PyTorch
    full.update(state)
    torch.save(full, tmp_path / "w.model")
    loaded = syncnet.load_syncnet(tmp_path / "w.model").state_dict()
    assert torch.equal(loaded["netcnnlip.18.weight"], state["netcnnlip.18.weight"])


class _Payload:
    def __reduce__(self):
        import os
        return os.system, ("touch payload-ran",)


def _one_line_error(path) -> str:
    with pytest.raises(EmotagError) as info:
        syncnet.load_syncnet(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "SyncNet v2 state dict" in message
    return message


def test_files_that_are_not_a_syncnet_state_dict_give_one_line_errors(tmp_path, monkeypatch, weights):
    monkeypatch.chdir(tmp_path)
    noise = tmp_path / "noise.model"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    assert "refused" in _one_line_error(noise)

    code = tmp_path / "code.model"
    with open(code, "wb") as f:                         # a plain pickle, as torch's legacy format
        pickle.dump({"netcnnaud.0.weight": _Payload()}, f, protocol=2)
    assert "refused" in _one_line_error(code)
    torch.save({"netcnnaud.0.weight": _Payload()}, code)  # the same inside torch's zip format
    assert "refused" in _one_line_error(code)
    assert not (tmp_path / "payload-ran").exists()

    wrong = tmp_path / "wrong.model"
    torch.save({"lin0.model.1.weight": torch.rand(1, 64, 1, 1)}, wrong)
    assert "missing keys netcnnaud.0.weight" in _one_line_error(wrong)

    state, _ = weights
    torch.save({**state, "netfclip.3.weight": torch.zeros(512, 512)}, wrong)
    assert "netfclip.3.weight is (512, 512), expected (1024, 512)" in _one_line_error(wrong)

    torch.save(torch.zeros(3), wrong)
    assert "holds a Tensor" in _one_line_error(wrong)


def test_without_weights_sync_c_is_missing_with_where_the_file_goes(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOTAG_HOME", str(tmp_path))
    with pytest.raises(MissingBackendError, match="download_model.sh") as info:
        sync.load_syncnet()
    assert str(tmp_path / "syncnet" / "syncnet_v2.model") in str(info.value) and "\n" not in str(info.value)
    assert not sync.syncnet_status().available
    (tmp_path / "syncnet").mkdir()
    torch.save(random_state_dict(), tmp_path / "syncnet" / "syncnet_v2.model")
    assert sync.syncnet_status().available
    assert isinstance(sync.load_syncnet(), syncnet.SyncNet)


# ---------------------------------------------------------------- MFCC

def _preemphasised(x: np.ndarray) -> np.ndarray:
    x = x * 32768.0
    return np.append(x[:1], x[1:] - 0.97 * x[:-1])


def test_mfcc_frames_and_energy_coefficient_follow_python_speech_features():
    rng = np.random.default_rng(0)
    audio = rng.standard_normal(30 * 640) * 0.05            # 30 video frames at 16 kHz
    cc = syncnet.mfcc(audio)
    assert cc.shape == (1 + math.ceil((len(audio) - 400) / 160), 13) == (4 * 30 - 1, 13)
    # Coefficient 0 is the log of the frame's power summed over the 257 one-sided bins of a 512-point
    # FFT, divided by 512. By Parseval that is sum(y^2) / 2 + (X_0^2 + X_256^2) / 1024 for the frame y.
    y = _preemphasised(audio)
    for m in (0, 7, 116):
        frame = y[160 * m:160 * m + 400]
        x0, x256 = frame.sum(), (frame * (-1.0) ** np.arange(400)).sum()
        assert cc[m, 0] == pytest.approx(np.log((frame ** 2).sum() / 2 + (x0 ** 2 + x256 ** 2) / 1024), rel=1e-9)
    # The last frame is zero-padded: it starts at 160 * 118 = 18880 of 19200, so 320 samples are real.
    tail = y[160 * 118:]
    x0, x256 = tail.sum(), (tail * (-1.0) ** np.arange(len(tail))).sum()
    assert cc[118, 0] == pytest.approx(np.log((tail ** 2).sum() / 2 + (x0 ** 2 + x256 ** 2) / 1024), rel=1e-9)


def test_mfcc_gain_moves_only_the_energy_coefficient():
    # A gain multiplies every mel energy by a^2: log adds 2 ln a to each band, which the orthonormal
    # DCT puts entirely into coefficient 0 (replaced by the log energy, which moves by 2 ln a too).
    audio = np.random.default_rng(1).standard_normal(8000) * 0.01
    a, b = syncnet.mfcc(audio), syncnet.mfcc(audio * 3)
    assert np.allclose(a[:, 1:], b[:, 1:], atol=1e-9)
    assert np.allclose(b[:, 0] - a[:, 0], 2 * np.log(3))


def test_mel_filterbank_is_26_unit_triangles_from_0_hz_to_nyquist():
    fb = syncnet.mel_filterbank()
    assert fb.shape == (26, 257) and fb.max() == pytest.approx(1.0) and fb.min() == 0
    peaks = fb.argmax(axis=1)
    assert (np.diff(peaks) > 0).all() and fb[:, peaks].diagonal().min() == 1.0
    assert fb[:, 256].sum() == 0      # the last triangle ends at the Nyquist bin, exclusive


# ---------------------------------------------------------------- face crop

def _box_landmarks(x0, y0, x1, y1, n=1) -> np.ndarray:
    lm = np.zeros((n, 478, 3), np.float32)
    lm[:, :, 0] = np.linspace(x0, x1, 478)
    lm[:, :, 1] = np.linspace(y0, y1, 478)[::-1]
    return lm


def test_face_boxes_interpolate_missing_frames_and_ignore_a_one_frame_jump():
    lm = _box_landmarks(40, 30, 80, 90, n=30)
    lm[10] = np.nan                                     # no face
    lm[20] += 25                                        # one-frame detection jump
    boxes = syncnet.face_boxes(lm)
    assert np.allclose(boxes, [60, 60, 30])             # centre of the box, half the longer side
    assert syncnet.face_boxes(np.full((4, 478, 3), np.nan)) is None


def test_crop_is_bgr_with_the_face_box_top_at_the_top_and_grey_off_frame():
    rgb = np.zeros((100, 100, 3), np.uint8)
    rgb[..., 0] = 255                                   # pure red
    crop = syncnet.crop_face(rgb, np.array([60.0, 60.0, 30.0]))
    # rows [30, 114), columns [18, 102) of the frame: 84 x 84, of which rows >= 100 and columns
    # >= 100 are off the frame.
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    inside = crop[:180, :180]
    assert (inside[..., 2] == 255).all() and (inside[..., :2] == 0).all()      # BGR: red in channel 2
    assert (crop[-30:, :, :] == 110).all() and (crop[:, -3:, :] == 110).all()  # grey padding


# ---------------------------------------------------------------- offset search

def test_offset_search_finds_a_known_shift_with_syncnet_pythons_sign():
    g = torch.Generator().manual_seed(0)
    n, k = 40, 3
    lip = torch.randn(n, 1024, generator=g)
    for shift in (k, -k):
        audio = torch.randn(n, 1024, generator=g)
        src = torch.arange(n) + shift                  # audio window t carries the sound of lip window t + shift
        ok = (src >= 0) & (src < n)
        audio[ok] = lip[src[ok]]
        score = syncnet.sync_scores(lip, audio)
        assert score.offset == shift                   # > 0: the sound comes before the mouth motion
        # at the best shift every lip window meets its own audio except the |shift| whose partner
        # falls outside the clip, where syncnet_python compares with a zero vector
        lost = torch.arange(n)[(torch.arange(n) - shift < 0) | (torch.arange(n) - shift >= n)]
        assert score.min_distance == pytest.approx(float(lip[lost].norm(dim=1).sum() / n), rel=1e-4)
        assert score.mean_distances[syncnet.VSHIFT - shift] == score.min_distance
        assert score.confidence == pytest.approx(float(np.median(score.mean_distances)) - score.min_distance)
        assert score.confidence > 30                   # random 1024-d pairs are ~45 apart


def test_identical_sequences_score_zero_distance_at_offset_zero():
    lip = torch.randn(25, 1024, generator=torch.Generator().manual_seed(1))
    score = syncnet.sync_scores(lip, lip.clone())
    assert score.offset == 0 and score.min_distance < 1e-3 and len(score.mean_distances) == 31
    # shift +2: windows 23, 24 meet zero rows, the others the window two later
    expect = (sum(float((lip[t] - lip[t + 2]).norm()) for t in range(23)) + float(lip[23:].norm(dim=1).sum())) / 25
    assert score.mean_distances[syncnet.VSHIFT + 2] == pytest.approx(expect, rel=1e-4)


def test_windows_follow_syncnet_python():
    assert syncnet.n_windows(30) == 25 and syncnet.n_windows(5) == 0
    cc = np.arange(13 * 119, dtype=np.float64).reshape(119, 13)
    model = syncnet.SyncNet()
    seen = []
    model.audio = lambda x: (seen.append(x.clone()), x.flatten(1)[:, :4])[1]
    syncnet.audio_embeddings(model, cc, 25)
    windows = torch.cat(seen)
    assert windows.shape == (25, 1, 13, 20)
    assert torch.equal(windows[7, 0], torch.from_numpy(cc[28:48].T).float())   # MFCC steps [4t, 4t + 20)


# ---------------------------------------------------------------- emotag eval with weights present

@pytest.fixture(scope="module")
def talking_clip(tmp_path_factory):
    path = real_video("real3dportrait_May_5s.mp4")
    folder = tmp_path_factory.mktemp("syncnet_eval")
    audio = open_video(path).audio()[: 20 * 640]
    frames = real_frames(path, 20, size=128)
    return write_video(folder / "may.mp4", frames, audio=audio), write_video(folder / "silent.mp4", frames)


def test_eval_reports_sync_c_and_sync_e_with_the_weights_in_place(talking_clip, weights, monkeypatch):
    _, path = weights
    monkeypatch.setenv("EMOTAG_HOME", str(path.parent.parent))
    video, silent = talking_clip
    m = evaluate(video)["metrics"]
    c, e = m["sync_c"], m["sync_e"]
    assert c["unavailable"] is None and e["unavailable"] is None
    assert math.isfinite(c["value"]) and c["value"] >= 0 and math.isfinite(e["value"]) and e["value"] > 0
    assert c["frames_scored"] == 15 and c["frames_unscored"] == 5
    assert c["details"]["windows"] == 15 and c["details"]["frames_without_face"] == 0
    assert abs(c["details"]["av_offset_frames"]) <= syncnet.VSHIFT
    assert c["details"]["distance_at_zero_offset"] >= e["value"]
    assert "SyncNet v2" in c["source"]
    assert m["av_sync_proxy"]["value"] is not None                       # the proxy is still reported
    quiet = evaluate(silent)["metrics"]["sync_c"]
    assert quiet["value"] is None and quiet["unavailable"] == "the video has no audio track"
    short = evaluate(video, max_frames=5)["metrics"]["sync_e"]
    assert short["value"] is None and "at least 6 frames" in short["unavailable"]


def test_eval_stops_with_one_line_on_a_broken_weight_file(talking_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("EMOTAG_HOME", str(tmp_path))
    (tmp_path / "syncnet").mkdir()
    (tmp_path / "syncnet" / "syncnet_v2.model").write_bytes(b"not weights")
    with pytest.raises(EmotagError, match="is not a SyncNet v2 state dict"):
        evaluate(talking_clip[0])
