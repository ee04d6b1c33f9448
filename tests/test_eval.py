"""`emotag eval`: each metric against known values, the report, and end-to-end runs on real clips.

PSNR / SSIM themselves are tested in test_image_metrics.py; here: how eval uses them (one SSIM map
for the frame and the head), and every other metric.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import typer
from typer.testing import CliRunner

from emotag_cli.cli.evaluate import eval_command
from emotag_cli.errors import EmotagError, MissingBackendError
from emotag_cli.evaluation import au_error, lpips, sync
from emotag_cli.evaluation.emotion_accuracy import emotion_scores
from emotag_cli.evaluation.lmd import mouth_distances
from emotag_cli.evaluation.report import to_json
from emotag_cli.evaluation.run import evaluate, masked_ssim
from emotag_cli.evaluation.video_io import open_video
from emotag_cli.image_metrics import psnr, ssim, ssim_map

from _landmarks import clip_landmarks
from _media import real_frames, write_video
from conftest import real_video

METRIC_KEYS = {"psnr", "ssim", "psnr_head", "ssim_head", "lpips", "lmd", "aue_u", "aue_l", "sync_c", "sync_e",
               "av_sync_proxy", "av_sync_proxy_reference", "av_sync_proxy_lag0", "av_sync_proxy_reference_lag0",
               "mouth_opening_vs_reference", "phone_sync", "emotion_accuracy", "emotion_probability"}
METRIC_FIELDS = {"label", "unit", "better", "value", "frames_scored", "frames_unscored", "source", "unavailable",
                 "details"}


# ---------------------------------------------------------------- image metrics as eval uses them

def test_identical_frames_give_infinite_psnr_and_unit_ssim_on_the_head_too():
    a = torch.rand(1, 3, 40, 40)
    head = torch.zeros(1, 1, 40, 40)
    head[..., 10:30, 12:28] = 1
    assert math.isinf(float(psnr(a, a, head)))
    assert float(masked_ssim(ssim_map(a, a), head)) == pytest.approx(1.0, abs=1e-6)


def test_masked_ssim_from_one_map_equals_image_metrics_ssim_with_the_mask():
    torch.manual_seed(0)
    a = torch.rand(1, 3, 48, 48)
    b = (a + 0.2 * torch.randn_like(a)).clamp(0, 1)
    head = torch.zeros(1, 1, 48, 48)
    head[..., 5:40, 20:45] = 1
    assert float(masked_ssim(ssim_map(a, b), head)) == pytest.approx(float(ssim(a, b, head)), abs=1e-6)
    assert float(ssim_map(a, b).mean()) == pytest.approx(float(ssim(a, b)), abs=1e-6)


# ---------------------------------------------------------------- LMD

def _face68(rng) -> np.ndarray:
    return rng.uniform(100, 200, size=(3, 68, 2))


def test_lmd_is_zero_for_a_shifted_copy():
    pts = _face68(np.random.default_rng(0))
    moved = pts + np.array([13.0, -7.5])        # the whole face displaced
    assert np.allclose(mouth_distances(moved, pts), 0, atol=1e-9)


def test_lmd_of_one_moved_mouth_point_has_the_closed_form_value():
    # Moving one of the 20 mouth points by v: after mean-centring, that point is off by 19/20 v and
    # the 19 others by 1/20 v, so the mean distance is (19/20 + 19/20) |v| / 20 = 0.095 |v|.
    pts = _face68(np.random.default_rng(1))
    deformed = pts.copy()
    deformed[:, 57] += np.array([0.0, 8.0])      # lower lip pulled down by 8 px
    assert np.allclose(mouth_distances(deformed, pts), 0.095 * 8.0)
    deformed_eye = pts.copy()
    deformed_eye[:, 40] += 30.0                  # points outside 48-67 do not count
    assert np.allclose(mouth_distances(deformed_eye, pts), 0)


def test_lmd_is_nan_where_either_side_has_no_face():
    pts = _face68(np.random.default_rng(2))
    missing = pts.copy()
    missing[1] = np.nan
    d = mouth_distances(missing, pts)
    assert np.isnan(d[1]) and np.isfinite(d[[0, 2]]).all()


# ---------------------------------------------------------------- the AV-sync proxy

def _mesh_with_opening(opening: np.ndarray, iod: float = 60.0) -> np.ndarray:
    """[N, 478, 3] landmarks whose three inner-lip pairs are ``opening * iod`` apart."""
    lm = np.zeros((len(opening), 478, 3), np.float32)
    lm[:, [33, 133], 0] = [[-iod / 2 - 15, -iod / 2 + 15]]   # eye centres at x = -iod/2 and +iod/2
    lm[:, [263, 362], 0] = [[iod / 2 + 15, iod / 2 - 15]]
    for upper, lower in sync.INNER_LIP_PAIRS:
        lm[:, upper, 1] = 100.0
        lm[:, lower, 1] = 100.0 + opening * iod
    return lm


def test_mouth_opening_is_the_inner_lip_gap_over_the_inter_ocular_distance():
    opening = np.array([0.0, 0.1, 0.35])
    lm = _mesh_with_opening(opening)
    assert np.allclose(sync.mouth_opening(lm), opening, atol=1e-6)
    assert np.allclose(sync.mouth_opening(lm * 2.5), opening, atol=1e-6)   # face size does not matter
    lm[1] = np.nan
    assert np.isnan(sync.mouth_opening(lm)[1])


def test_frame_energy_is_log_rms_in_db_with_a_floor():
    audio = np.zeros(4 * 640, np.float32)
    t = np.arange(640) / 16000
    audio[:640] = 0.5 * np.sin(2 * np.pi * 400 * t)          # RMS 0.5 / sqrt(2)
    audio[640:1280] = 0.05 * np.sin(2 * np.pi * 400 * t)      # 20 dB quieter
    e = sync.frame_energy(audio, 4)
    assert e[0] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)
    assert e[0] - e[1] == pytest.approx(20.0, abs=0.01)
    assert e[2] == e[3] == pytest.approx(e[0] - sync.ENERGY_FLOOR_DB)  # silence sits at the floor


def test_sync_proxy_finds_the_lag_and_its_sign():
    rng = np.random.default_rng(0)
    signal = np.convolve(rng.normal(size=300), np.ones(4) / 4, mode="same")   # syllable-like wiggle
    energy = np.roll(signal, 2)                                   # the sound comes 2 frames later
    result = sync.av_sync_proxy(signal, energy, max_offset=3)
    assert result.offset == 2 and result.correlation > 0.95
    assert result.at_zero < result.correlation
    far = sync.av_sync_proxy(signal, np.roll(signal, 25), max_offset=3)   # 1 s off: outside the search
    assert far.correlation < 0.3


def test_sync_proxy_ignores_frames_without_a_face():
    rng = np.random.default_rng(1)
    signal = np.convolve(rng.normal(size=200), np.ones(4) / 4, mode="same")
    opening = signal.copy()
    opening[50:80] = np.nan
    result = sync.av_sync_proxy(opening, signal)
    assert result.offset == 0 and result.correlation > 0.95
    assert np.isnan(sync.av_sync_proxy(np.full(200, np.nan), signal).correlation)


# ---------------------------------------------------------------- LPIPS through the real loading path

ALEX_CONVS = {"features.0": (64, 3, 11), "features.3": (192, 64, 5), "features.6": (384, 192, 3),
              "features.8": (256, 384, 3), "features.10": (256, 256, 3)}
LPIPS_CHANNELS = (64, 192, 384, 256, 256)


def _write_lpips_weights(torch_home, heads_file, seed=0) -> tuple[dict, dict]:
    """Random torchvision-layout AlexNet (with its classifier, as the real file has) and lpips-layout heads."""
    g = torch.Generator().manual_seed(seed)
    backbone = {}
    for name, (out, inp, k) in ALEX_CONVS.items():
        backbone[f"{name}.weight"] = torch.randn(out, inp, k, k, generator=g) * (2 / (inp * k * k)) ** 0.5
        backbone[f"{name}.bias"] = 0.01 * torch.randn(out, generator=g)
    backbone["classifier.1.weight"] = torch.randn(16, 8, generator=g)
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for i, c in enumerate(LPIPS_CHANNELS)}
    ckpt = torch_home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.save(backbone, ckpt / "alexnet-owt-7be5be79.pth")
    heads_file.parent.mkdir(parents=True, exist_ok=True)
    torch.save(heads, heads_file)
    return backbone, heads


def _reference_lpips(a, b, backbone, heads):
    """LPIPS written out layer by layer with torch.nn.functional, from the two state dicts."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def feats(x):
        x = ((2 * x - 1) - shift) / scale
        w = backbone
        r1 = F.relu(F.conv2d(x, w["features.0.weight"], w["features.0.bias"], stride=4, padding=2))
        r2 = F.relu(F.conv2d(F.max_pool2d(r1, 3, 2), w["features.3.weight"], w["features.3.bias"], padding=2))
        r3 = F.relu(F.conv2d(F.max_pool2d(r2, 3, 2), w["features.6.weight"], w["features.6.bias"], padding=1))
        r4 = F.relu(F.conv2d(r3, w["features.8.weight"], w["features.8.bias"], padding=1))
        r5 = F.relu(F.conv2d(r4, w["features.10.weight"], w["features.10.bias"], padding=1))
        return [r1, r2, r3, r4, r5]

    total = 0
    for k, (fa, fb) in enumerate(zip(feats(a), feats(b))):
        fa = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        fb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total = total + ((fa - fb) ** 2 * heads[f"lin{k}.model.1.weight"]).sum(1).mean(dim=(1, 2))
    return total


def test_lpips_loads_random_weights_from_torch_home_and_emotag_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("EMOTAG_HOME", str(tmp_path / "emotag"))
    with pytest.raises(MissingBackendError) as info:
        lpips.load_lpips()
    assert "alexnet-owt-7be5be79.pth" in str(info.value) and "alex.pth" in str(info.value)
    assert not lpips.status().available

    backbone, heads = _write_lpips_weights(tmp_path / "torch", tmp_path / "emotag" / "lpips" / "alex.pth")
    model = lpips.load_lpips()
    assert lpips.status().available
    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 80, 72), torch.rand(2, 3, 80, 72)
    with torch.no_grad():
        assert torch.allclose(model(a, a), torch.zeros(2), atol=1e-7)
        d = model(a, b)
    assert (d > 0).all()
    assert torch.allclose(d, _reference_lpips(a, b, backbone, heads), rtol=1e-4)


def test_lpips_heads_are_found_inside_an_installed_lpips_package(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("EMOTAG_HOME", str(tmp_path / "emotag"))
    package = tmp_path / "site" / "lpips"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    _write_lpips_weights(tmp_path / "torch", package / "weights" / "v0.1" / "alex.pth")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert lpips.heads_path() == package / "weights" / "v0.1" / "alex.pth"
    assert isinstance(lpips.load_lpips(), lpips.LPIPS)


def test_lpips_refuses_a_file_with_the_wrong_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("EMOTAG_HOME", str(tmp_path / "emotag"))
    heads_file = tmp_path / "emotag" / "lpips" / "alex.pth"
    _write_lpips_weights(tmp_path / "torch", heads_file)
    torch.save({"lin0.model.1.weight": torch.rand(1, 32, 1, 1)}, heads_file)
    with pytest.raises(EmotagError, match="lin0"):
        lpips.load_lpips()


# ---------------------------------------------------------------- AUE

def test_aue_is_the_sum_over_aus_of_the_mean_squared_difference():
    ref = np.zeros((4, 3))
    pred = ref.copy()
    pred[:, 1] = [1.0, -1.0, 2.0, 0.0]                 # mean square 1.5
    pred[:, 2] = 0.5                                    # mean square 0.25
    value, per_au, used = au_error.aue(pred, ref)
    assert value == pytest.approx(1.75) and per_au == pytest.approx([0.0, 1.5, 0.25]) and used == 4
    pred[2] = np.nan                                    # a frame without a face is left out
    value, _, used = au_error.aue(pred, ref)
    assert used == 3 and value == pytest.approx((1 + 1 + 0) / 3 + 0.25)


def _openface_csv(path, aus: dict[str, np.ndarray], success: np.ndarray, sep=", "):
    names = [f"{n}_r" for n in aus]
    n = len(success)
    lines = [sep.join(["frame", "face_id", "timestamp", "confidence", "success", *names])]
    for i in range(n):
        values = [f"{aus[a][i]:.2f}" for a in aus]
        lines.append(sep.join([str(i + 1), "0", f"{i / 25:.3f}", "0.98", str(int(success[i])), *values]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_openface_aue_uses_the_papers_au_lists(tmp_path):
    n = 10
    all_aus = au_error.OPENFACE_UPPER + au_error.OPENFACE_LOWER
    rng = np.random.default_rng(0)
    ref = {a: np.round(rng.uniform(0, 3, n), 2) for a in all_aus}
    rendered = {a: v.copy() for a, v in ref.items()}
    rendered["AU12"] = ref["AU12"] + 0.5               # a stronger smile: lower face only
    ok = np.ones(n, bool)
    ok[3] = False                                      # OpenFace lost the face here
    ref_csv = _openface_csv(tmp_path / "ref.csv", ref, np.ones(n, bool))
    ren_csv = _openface_csv(tmp_path / "ren.csv", rendered, ok, sep=",")
    lower = au_error.aue(au_error.read_openface_aus(ren_csv, au_error.OPENFACE_LOWER, n),
                         au_error.read_openface_aus(ref_csv, au_error.OPENFACE_LOWER, n))
    upper = au_error.aue(au_error.read_openface_aus(ren_csv, au_error.OPENFACE_UPPER, n),
                         au_error.read_openface_aus(ref_csv, au_error.OPENFACE_UPPER, n))
    assert lower[0] == pytest.approx(0.25, abs=1e-6) and lower[2] == n - 1
    assert upper[0] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(EmotagError, match="AU45_r"):
        au_error.read_openface_aus(_openface_csv(tmp_path / "few.csv", {"AU01": ref["AU01"]}, ok),
                                   au_error.OPENFACE_UPPER, n)


@pytest.fixture(scope="module")
def may_mesh():
    _, lm = clip_landmarks(real_video("real3dportrait_May_5s.mp4"), size=256, max_frames=20)
    assert np.isfinite(lm).all()
    return lm


def test_landmark_aue_is_zero_against_itself_and_sees_an_opened_mouth(may_mesh):
    upper_v, upper_r = au_error.landmark_upper_aus(may_mesh, may_mesh)
    lower_v, lower_r = au_error.landmark_lower_proxy(may_mesh, may_mesh)
    assert au_error.aue(upper_v, upper_r)[0] == 0 and au_error.aue(lower_v, lower_r)[0] == 0

    opened = may_mesh.copy()
    iod = np.linalg.norm(may_mesh[:, 33, :2] - may_mesh[:, 263, :2], axis=1)[:, None]
    opened[:, [87, 14, 317, 178, 402], 1] += 0.2 * iod   # lower inner lip down by 0.2 face widths
    upper_v, upper_r = au_error.landmark_upper_aus(opened, may_mesh)
    lower_v, lower_r = au_error.landmark_lower_proxy(opened, may_mesh)
    assert au_error.aue(upper_v, upper_r)[0] == pytest.approx(0.0, abs=1e-9)   # the brows did not move
    value, per_item, _ = au_error.aue(lower_v, lower_r)
    assert value > 0.5
    assert np.argmax(per_item) == au_error.LOWER_PROXY.index("mouth_open")
    assert (lower_v[:, 0] > lower_r[:, 0]).all()                             # more open, every frame


# ---------------------------------------------------------------- emotion accuracy

def test_emotion_scores_on_known_distributions():
    probs = np.array([
        [0.0, 0.0, 0.0, 0.1, 0.8, 0.0, 0.1],   # sad
        [0.0, 0.0, 0.0, 0.6, 0.3, 0.0, 0.1],   # happy
        [0.0, 0.0, 0.0, 0.0, 0.4, 0.0, 0.6],   # neutral
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],   # no face: not scored
    ])
    valid = np.array([True, True, True, False])
    accuracy, prob, used = emotion_scores(probs, valid, "sad")
    assert used == 3 and accuracy == pytest.approx(1 / 3) and prob == pytest.approx(0.5)
    accuracy, prob, _ = emotion_scores(probs, valid, "Happy")
    assert accuracy == pytest.approx(1 / 3) and prob == pytest.approx(0.7 / 3)
    with pytest.raises(EmotagError, match="unknown emotion"):
        emotion_scores(probs, valid, "joy")
    # Per-frame requests (a timeline): sad, happy, unscored (-1), and the faceless frame.
    accuracy, prob, used = emotion_scores(probs, valid, np.array([4, 3, -1, 4]))
    assert used == 2 and accuracy == pytest.approx(1.0) and prob == pytest.approx((0.8 + 0.6) / 2)


def test_timeline_targets_follow_the_renderers_weights():
    from emotag_cli.evaluation.emotion_accuracy import timeline_targets

    targets = timeline_targets("happy:0-2,sad:2-4", 150, 25.0)          # 6 s: neutral after 4 s
    happy, sad, neutral = 3, 4, 6
    assert (targets[:40] == happy).sum() >= 34 and (targets[55:95] == sad).all()
    assert (targets[110:] == neutral).all()
    fade = targets[44:56]
    assert (fade == -1).any() and set(fade.tolist()) <= {happy, sad, -1}   # the cross-fade is not scored
    with pytest.raises(EmotagError, match="ends before it starts"):
        timeline_targets("sad:3-1", 50, 25.0)


# ---------------------------------------------------------------- end to end on a small real clip

@pytest.fixture(scope="module")
def small_clip(tmp_path_factory):
    """May's first 30 frames at 128 px, with her audio and without."""
    path = real_video("real3dportrait_May_5s.mp4")
    folder = tmp_path_factory.mktemp("eval")
    frames = real_frames(path, 30, size=128)
    audio = open_video(path).audio()[: 30 * 640]
    return (write_video(folder / "may.mp4", frames, audio=audio),
            write_video(folder / "may_silent.mp4", frames))


def _cli(*args):
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("other")(lambda: None)     # two commands, so "eval" stays a subcommand as in emotag
    return CliRunner().invoke(app, ["eval", *map(str, args)])


def test_json_report_has_the_documented_keys(small_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("EMOTAG_HOME", str(tmp_path))       # no SyncNet weights (tests/test_syncnet.py has them)
    video, _ = small_clip
    result = _cli(video, "--reference", video, "--emotion", "neutral", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"schema", "video", "reference", "reference_kind", "fps", "frame_size", "frames",
                           "notes", "metrics"}
    assert report["reference_kind"] == "video" and report["frame_size"] == [128, 128]
    assert report["frames"] == {"video": 30, "evaluated": 30, "compared": 30, "reference": 30}
    assert set(report["metrics"]) == METRIC_KEYS
    assert all(set(m) == METRIC_FIELDS for m in report["metrics"].values())
    m = report["metrics"]
    assert m["psnr"]["value"] == "inf" and m["ssim"]["value"] == pytest.approx(1.0)
    assert m["lmd"]["value"] == 0 and m["lmd"]["frames_scored"] == 30
    assert m["psnr_head"]["value"] is None and "scene" in m["psnr_head"]["unavailable"]
    assert m["sync_c"]["value"] is None and "syncnet" in m["sync_c"]["unavailable"].lower()
    assert m["av_sync_proxy"]["value"] == m["av_sync_proxy_reference"]["value"]
    # The zero-lag proxy is reported beside the best lag (never above it); the same clip as its own
    # reference opens its mouth exactly as the reference does.
    assert m["av_sync_proxy_lag0"]["value"] == m["av_sync_proxy"]["details"]["correlation_at_zero_offset"]
    assert m["av_sync_proxy_lag0"]["value"] <= m["av_sync_proxy"]["value"]
    assert m["mouth_opening_vs_reference"]["value"] == pytest.approx(1.0)
    assert m["mouth_opening_vs_reference"]["frames_scored"] == 30
    assert -1 <= m["phone_sync"]["value"] <= 1 and "phonetic" in m["phone_sync"]["source"]
    assert sum(m["emotion_probability"]["details"]["mean_distribution"].values()) == pytest.approx(1.0)


def test_table_output_and_errors_through_the_command(small_clip, tmp_path):
    video, _ = small_clip
    table = _cli(video, "--max-frames", 12)
    assert table.exit_code == 0, table.output
    assert "AV-sync proxy" in table.stdout and "no --reference given" in table.stdout
    assert "only the first 12 of 30" in table.stdout
    missing = _cli(tmp_path / "nope.mp4")
    assert isinstance(missing.exception, EmotagError) and "input not found" in str(missing.exception)
    half = _cli(video, "--openface-csv", tmp_path / "a.csv")
    assert isinstance(half.exception, EmotagError) and "--reference-openface-csv" in str(half.exception)


def test_a_video_without_audio_reports_sync_unavailable_and_openface_csvs_drive_aue(small_clip, tmp_path):
    video, silent = small_clip
    n = 15
    ref_aus = {a: np.full(n, 1.0) for a in au_error.OPENFACE_UPPER + au_error.OPENFACE_LOWER}
    ren_aus = {**ref_aus, "AU25": np.full(n, 2.0)}                  # lips part more: lower face only
    csvs = (_openface_csv(tmp_path / "ren.csv", ren_aus, np.ones(n, bool)),
            _openface_csv(tmp_path / "ref.csv", ref_aus, np.ones(n, bool)))
    report = evaluate(silent, reference=video, max_frames=n, openface_csv=csvs)
    m = report["metrics"]
    assert m["av_sync_proxy"]["value"] is None and m["av_sync_proxy"]["unavailable"] == "the video has no audio track"
    assert m["av_sync_proxy_reference"]["value"] is not None                 # the reference has audio
    assert m["av_sync_proxy_lag0"]["unavailable"] == "the video has no audio track"
    assert m["mouth_opening_vs_reference"]["value"] > 0.9                     # same mouth, re-encoded
    assert m["psnr"]["value"] > 30                                           # same frames, re-encoded
    assert m["aue_l"]["value"] == pytest.approx(1.0) and m["aue_u"]["value"] == pytest.approx(0.0)
    assert m["aue_l"]["source"] == "OpenFace AUs" and m["aue_l"]["details"]["per_au"]["AU25"] == pytest.approx(1.0)


def test_reference_errors(small_clip, tmp_path):
    video, _ = small_clip
    with pytest.raises(EmotagError, match="reference not found"):
        evaluate(video, reference=tmp_path / "missing_scene")
    (tmp_path / "folder").mkdir()
    with pytest.raises(EmotagError, match="not a scene"):
        evaluate(video, reference=tmp_path / "folder")
    with pytest.raises(EmotagError, match="unknown emotion"):
        evaluate(video, emotion="elated")
    with pytest.raises(EmotagError, match="unknown emotion 'elated'"):
        evaluate(video, emotion="happy:0-1,elated:1-2")


def test_lengths_and_sizes_that_differ_compare_the_common_prefix(small_clip, tmp_path):
    video, _ = small_clip
    frames = real_frames(real_video("real3dportrait_May_5s.mp4"), 20, size=96)
    shorter = write_video(tmp_path / "short.mp4", frames)
    report = evaluate(video, reference=shorter)
    assert report["frames"]["compared"] == 20 and report["frame_size"] == [96, 96]
    assert any("first 20 frames" in n for n in report["notes"])
    assert any("resized from 128x128" in n for n in report["notes"])
    assert report["metrics"]["psnr"]["frames_scored"] == 20
    assert report["metrics"]["av_sync_proxy"]["frames_scored"] == 30    # reference-free: every frame
    emotion = report["metrics"]["emotion_probability"]
    assert emotion["unavailable"] == "no --emotion given"
    assert sum(emotion["details"]["mean_distribution"].values()) == pytest.approx(1.0)   # still reported


@pytest.mark.real
def test_scene_reference_gives_head_metrics_and_ranks_a_wrong_video_lower(tmp_path):
    from emotag_cli.config import PreprocessConfig
    from emotag_cli.preprocess.pipeline import preprocess

    path = real_video("real3dportrait_May_5s.mp4")
    frames = real_frames(path, 25, size=160)
    audio = open_video(path).audio()[: 25 * 640]
    scene = preprocess(write_video(tmp_path / "src.mp4", frames, audio=audio), tmp_path / "scene",
                       PreprocessConfig(size=128, identity_top_k=4, audio_encoder="mel"))
    own = [scene.frame(i) for i in range(scene.n_frames)]
    same = write_video(tmp_path / "same.mp4", own, audio=scene.audio())
    wrong = write_video(tmp_path / "wrong.mp4", own[::-1], audio=scene.audio())   # time reversed
    good = evaluate(same, reference=scene.path)["metrics"]
    bad = evaluate(wrong, reference=scene.path)["metrics"]
    assert good["psnr_head"]["value"] > 30 and good["ssim_head"]["value"] > 0.9
    assert good["psnr_head"]["frames_scored"] == scene.n_frames
    for key in ("psnr", "psnr_head", "ssim", "ssim_head"):
        assert good[key]["value"] > bad[key]["value"], key
    for key in ("lmd", "aue_l"):
        assert good[key]["value"] < bad[key]["value"], key
    assert good["lmd"]["value"] < 1.0                               # pixels at 128 px


# ---------------------------------------------------------------- real clips (slower)

@pytest.mark.real
def test_real_clip_against_itself():
    path = real_video("real3dportrait_May_5s.mp4")
    m = evaluate(path, reference=path, max_frames=30)["metrics"]
    assert math.isinf(m["psnr"]["value"]) and m["ssim"]["value"] == pytest.approx(1.0, abs=1e-6)
    assert m["lmd"]["value"] == 0 and m["lmd"]["frames_scored"] == 30
    assert m["aue_u"]["value"] == 0 and m["aue_l"]["value"] == 0


def _square_frames(path, size: int) -> list[np.ndarray]:
    """Every frame at 25 fps, centre-cropped to a square and resized to ``size``."""
    import cv2

    from emotag_cli.media.probe import probe
    from emotag_cli.media.video import decode_cfr

    out = []
    for f in decode_cfr(probe(path), 25.0):
        h, w = f.shape[:2]
        side = min(h, w)
        crop = f[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        out.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    return out


def _delayed(audio: np.ndarray, seconds: float) -> np.ndarray:
    shift = int(seconds * 16000)
    return np.concatenate([np.zeros(shift, np.float32), audio])[: len(audio)]


@pytest.mark.real
@pytest.mark.parametrize("name", ["real3dportrait_May_5s.mp4", "eamm_M030_sad_3_001.mp4"])
def test_sync_proxy_prefers_the_clips_own_audio_to_a_delayed_copy(tmp_path, name):
    path = real_video(name)
    frames = _square_frames(path, 256)
    audio = open_video(path).audio()
    scores = {}
    for delay in (0.0, 0.5, 1.0):
        video = write_video(tmp_path / f"d{delay}.mp4", frames, audio=_delayed(audio, delay))
        scores[delay] = evaluate(video)["metrics"]["av_sync_proxy"]["value"]
    assert scores[0.0] > 0.1
    assert scores[0.0] > scores[0.5] + 0.05 and scores[0.0] > scores[1.0] + 0.05, scores


@pytest.mark.real
def test_emotion_accuracy_on_the_sad_mead_clip(tmp_path):
    path = real_video("eamm_M030_sad_3_001.mp4")
    video = write_video(tmp_path / "mead.mp4", _square_frames(path, 256))
    sad = evaluate(video, emotion="sad")["metrics"]
    happy = evaluate(video, emotion="happy")["metrics"]
    assert sad["emotion_accuracy"]["value"] > 0.8 and sad["emotion_probability"]["value"] > 0.6
    assert happy["emotion_accuracy"]["value"] < 0.05 and happy["emotion_probability"]["value"] < 0.05
    # The same clip scored against a timeline: its sad half is right, its "happy" half wrong.
    timeline = evaluate(video, emotion="sad:0-1.8,happy:1.8-4")["metrics"]
    assert timeline["emotion_accuracy_sad_0_1p8"]["value"] > 0.8
    assert timeline["emotion_accuracy_happy_1p8_4"]["value"] < 0.05
    assert 0.2 < timeline["emotion_accuracy"]["value"] < 0.8
    assert timeline["emotion_accuracy"]["frames_scored"] < sad["emotion_accuracy"]["frames_scored"]   # the fade


def test_to_json_is_strict_json_with_non_finite_numbers_as_strings():
    text = to_json({"a": float("inf"), "b": [float("-inf"), float("nan")], "c": 1.5, "d": None})
    assert json.loads(text) == {"a": "inf", "b": ["-inf", "nan"], "c": 1.5, "d": None}


def test_phone_sync_slot_scores_the_opening_against_a_phonetic_track(monkeypatch):
    from emotag_cli.evaluation import lip_figures

    _, lm = clip_landmarks(real_video("real3dportrait_May_5s.mp4"), size=256, max_frames=40)
    opening = sync.mouth_opening(lm)
    audio = np.zeros(40 * 640, np.float32)
    assert lip_figures.phone_sync(lm, audio, 25.0, "no audio").value is None      # silence: a constant track
    # A phonetic track that says exactly how open the mouth is scores 1; its mirror image scores -1.
    monkeypatch.setattr(lip_figures, "PHONETIC_TRACK", lambda wav, fps: opening[: len(wav) // 640])
    assert lip_figures.phone_sync(lm, audio, 25.0, "no audio").value == pytest.approx(1.0)
    monkeypatch.setattr(lip_figures, "PHONETIC_TRACK", lambda wav, fps: -opening)
    assert lip_figures.phone_sync(lm, audio, 25.0, "no audio").value == pytest.approx(-1.0)
    assert lip_figures.phone_sync(lm, None, 25.0, "no audio").unavailable == "no audio"
    monkeypatch.setattr(lip_figures, "PHONETIC_TRACK", None)
    assert "phonetic" in lip_figures.phone_sync(lm, audio, 25.0, "no audio").unavailable
