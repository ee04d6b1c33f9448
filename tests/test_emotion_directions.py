"""Emotion directions (head/emotion_directions.py, head/emotion_estimate.py) and the residual
anchored on them (motion/emotion_residual.py): intensity 0 is the base motion exactly, the
motion along a requested emotion grows monotonically with intensity and moves along its
direction, directions of another head model and emotions without a direction are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotag_cli.artifact import file_sha256
from emotag_cli.errors import EmotagError
from emotag_cli.head.builder.coverage import motion_span, span_residual
from emotag_cli.head.emotion_directions import (
    CLASSES,
    EmotionDirections,
    check_artifact_directions,
    load_emotion_directions,
    resolve_directions,
    save_emotion_directions,
    shipped_directions_path,
)
from emotag_cli.head.emotion_estimate import EstimateSettings, LabelledClip, estimate_directions, lip_opening_gradient
from emotag_cli.head.open_model import load_open_model, open_model_path
from emotag_cli.motion import EMOTIONS, GRMN, emotion_request
from emotag_cli.motion.timeline import emotion_track, require_directions
from test_motion import inputs, tiny_config


def random_directions(dim: int, emotions=CLASSES, seed: int = 0, model: str = "open",
                      sha: str | None = "a" * 64) -> EmotionDirections:
    g = np.random.default_rng(seed)
    d = g.normal(size=(len(emotions), dim))
    d[:, -3:] = 0.0
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return EmotionDirections(model, sha, tuple(emotions), d, g.uniform(0.5, 2.0, len(emotions)))


def anchored_model(seed: int = 0, scramble: bool = True) -> tuple[GRMN, EmotionDirections]:
    config = tiny_config()
    directions = random_directions(config.motion_dim, seed=seed)
    config.emotion_directions = directions.record()
    torch.manual_seed(seed)
    model = GRMN(config).eval()
    if scramble:  # a large, arbitrary correction: the properties must not rely on a small one
        with torch.no_grad():
            for p in model.decoder.residual_decoder.parameters():
                p.normal_(0.0, 0.5)
    return model, directions


def request(model: GRMN, emotion: str, intensity: float):
    audio, aus, identity = inputs(model.config, batch=3)
    pi, gate = emotion_request(emotion, intensity)
    return model(audio, aus, identity, pi.expand(3, -1), gate)


def test_intensity_zero_gives_the_base_motion_exactly():
    model, _ = anchored_model()
    with torch.no_grad():
        for emotion in ("happy", "angry", "surprise"):
            out = request(model, emotion, 0.0)
            assert torch.equal(out.delta, out.base)


@pytest.mark.parametrize("emotion", CLASSES)
def test_motion_along_the_request_grows_monotonically_and_moves_along_its_direction(emotion):
    model, directions = anchored_model()
    e = torch.tensor(directions.directions[directions.index(emotion)], dtype=torch.float32)
    s = float(model.decoder.anchor.scale[EMOTIONS.index(emotion)].detach())
    span = model.decoder.anchor.span
    along = []
    with torch.no_grad():
        for i in (0.0, 0.25, 0.5, 0.75, 1.0):
            out = request(model, emotion, i)
            change = out.delta - out.base                                          # [3, D]
            along.append((change @ e).tolist())
            # Inside span{E}, the change is exactly i²·s_k·E_k: along the real emotion, nothing else.
            inside = (change @ span) @ span.T
            torch.testing.assert_close(inside, (i * i * s * e).expand_as(inside), atol=1e-5, rtol=1e-4)
    along = np.asarray(along)                                                      # [5 intensities, 3 samples]
    assert (np.diff(along, axis=0) > 0).all()
    np.testing.assert_allclose(along[-1], s, rtol=1e-4)


def test_scales_start_at_the_natural_magnitude_and_are_learnable():
    model, directions = anchored_model(scramble=False)
    anchor = model.decoder.anchor
    for k, name in enumerate(directions.emotions):
        assert float(anchor.scale[EMOTIONS.index(name)].detach()) == pytest.approx(directions.magnitude[k], rel=1e-5)
    assert anchor.log_scale.requires_grad
    out = request(model, "happy", 1.0)
    out.delta.sum().backward()
    assert anchor.log_scale.grad[EMOTIONS.index("happy")] != 0
    assert anchor.log_scale.grad[EMOTIONS.index("sad")] == 0


def test_the_directions_travel_in_the_state_dict_and_config():
    model, directions = anchored_model()
    state = model.state_dict()
    assert "decoder.anchor.directions" in state and "decoder.anchor.log_scale" in state
    again = GRMN(type(model.config).from_dict(model.config.to_dict()))
    again.load_state_dict(state)
    assert torch.equal(again.decoder.anchor.directions, model.decoder.anchor.directions)


def test_directions_of_another_head_model_or_version_are_refused(tmp_path):
    directions = random_directions(53, sha="a" * 64)
    directions.check_head_model("open", "a" * 64)
    both = r"head model open \(sha256 aaaaaaaaaaaa….*head model open \(sha256 bbbbbbbbbbbb…"
    with pytest.raises(EmotagError, match=both):
        directions.check_head_model("open", "b" * 64)
    with pytest.raises(EmotagError, match="head model open.*do not belong to head model flame"):
        directions.check_head_model("flame", None)
    manifest_head = {"id": "open", "source": {"path": "x.npz", "sha256": "b" * 64}}
    with pytest.raises(EmotagError, match="prior P: emotion directions v1 for head model open"):
        check_artifact_directions(directions.record(), manifest_head, "prior P")
    path = tmp_path / "d.json"
    save_emotion_directions(path, directions)
    with pytest.raises(EmotagError, match="do not belong"):
        resolve_directions(str(path), "open", "b" * 64)
    record = {**directions.record(), "version": 99}
    with pytest.raises(EmotagError, match="version 99 — this emotag reads version 1"):
        EmotionDirections.from_record(record, "d.json")


def test_an_emotion_without_a_direction_is_refused_naming_the_ones_there_are():
    directions = random_directions(53, emotions=("happy", "sad"))
    assert directions.index("sad") == 1
    with pytest.raises(EmotagError, match=r"no 'fear'; they have: happy, sad \(and neutral\)"):
        directions.index("fear")
    with pytest.raises(EmotagError, match=r"no fear; they have: happy, sad \(and neutral\)"):
        require_directions("happy:0-2,fear:2-4", directions.emotions)
    require_directions("happy:0-2,neutral:2-4", directions.emotions)
    require_directions("auto", directions.emotions)


def test_save_and_load_round_trip(tmp_path):
    directions = random_directions(53)
    path = tmp_path / "d.json"
    save_emotion_directions(path, directions)
    again = load_emotion_directions(path)
    assert again.emotions == directions.emotions and again.head_model_sha256 == directions.head_model_sha256
    np.testing.assert_allclose(again.directions, directions.directions, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["d.json"]       # no temporary file left behind


def test_estimate_recovers_a_shared_change_without_jaw_or_lip_opening():
    """Two speakers whose happy clips add the same change to their own neutral motion (plus a jaw
    opening and a lip-opening part): the direction is that change minus the jaw and the opening."""
    g = np.random.default_rng(1)
    dim = 53
    change = g.normal(size=dim)
    opening = np.zeros(dim)
    opening[:50] = g.normal(size=50)
    clips = []
    for speaker in ("A", "B"):
        neutral = g.normal(size=dim)
        frames = neutral + 0.01 * g.normal(size=(40, dim))
        p = np.tile([0, 0, 0, 0, 0, 0, 1.0], (40, 1))
        clips.append(LabelledClip(f"{speaker}_neutral", frames, p, "neutral", speaker, {}))
        happy = neutral + change + 0.01 * g.normal(size=(40, dim))
        clips.append(LabelledClip(f"{speaker}_happy", happy, np.tile([0, 0, 0, 1.0, 0, 0, 0], (40, 1)),
                                  "happy", speaker, {}))
    est = estimate_directions(clips, opening, "open", None, EstimateSettings(frame_fraction=1.0))
    assert est.emotions == ("happy",)
    expected = change.copy()
    expected[-3:] = 0.0
    u = opening / np.linalg.norm(opening)
    expected -= (expected @ u) * u
    d = est.directions[0] * est.magnitude[0]
    np.testing.assert_allclose(d, expected, atol=0.02)
    assert abs(est.directions[0] @ opening) < 1e-9 and (est.directions[0][-3:] == 0).all()
    assert est.provenance["speakers"] == {"happy": 2}


def test_lip_opening_gradient_of_the_open_model_opens_the_lips():
    model = load_open_model()
    g = lip_opening_gradient(model)
    assert g.shape == (53,) and (g[-3:] == 0).all() and np.abs(g).max() > 0
    dirs = model.exprdirs.numpy()
    np.testing.assert_allclose(g[:50], dirs[13, 1] - dirs[14, 1], rtol=1e-6)


def test_the_shipped_directions_belong_to_the_shipped_head_model():
    directions = load_emotion_directions(shipped_directions_path())
    directions.check_head_model("open", file_sha256(open_model_path()))
    assert set(directions.emotions) == set(CLASSES)
    assert directions.directions.shape == (6, 53)
    np.testing.assert_allclose(np.linalg.norm(directions.directions, axis=1), 1.0, atol=1e-5)
    assert (directions.directions[:, -3:] == 0).all()
    assert resolve_directions("builtin", "open", file_sha256(open_model_path())) is not None
    assert resolve_directions("builtin", "flame", None, log=lambda m: None) is None


def test_coverage_is_zero_inside_the_span_and_one_outside():
    with np.load(open_model_path()) as z:
        arrays = {k: z[k] for k in ("v_template", "exprdirs", "J_regressor", "lbs_weights")}
    basis, upper = motion_span(arrays)
    g = np.random.default_rng(0)
    inside = (basis @ g.normal(size=(basis.shape[1], 4))).T.reshape(4, 468, 3)
    assert span_residual(basis, upper, inside).total < 1e-10
    q, _ = np.linalg.qr(basis)
    outside = g.normal(size=(basis.shape[0], 4))
    outside = (outside - q @ (q.T @ outside)).T.reshape(4, 468, 3)
    assert span_residual(basis, upper, outside).total == pytest.approx(1.0)


def test_timeline_request_is_neutral_outside_segments():
    emotion, gate = emotion_track("happy:0-1", 1.0, 50, 25.0)
    assert float(emotion[-1, EMOTIONS.index("neutral")]) == pytest.approx(1.0)
    assert float(emotion[5, EMOTIONS.index("happy")]) == pytest.approx(1.0)
