"""The Gated Residual Motion Network (emotag_cli.motion): shapes, initial behaviour, parameter
selection, emotion control, mouth refinement, hash grid, EMA and losses."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from emotag_cli.errors import EmotagError
from emotag_cli.motion import (
    EMA,
    EMOTIONS,
    GRMN,
    NEUTRAL,
    AdaIN,
    HashGrid2D,
    MotionConfig,
    adain_parameters,
    channel_normalize,
    count_parameters,
    depth_loss,
    emotion_kl_loss,
    emotion_request,
    flame_loss,
    frame_windows,
    gate_loss,
    geometry_loss,
    level_resolutions,
    normal_loss,
    optimizer_groups,
    render_loss,
    row_normalize,
    seg_loss,
    teacher_forcing,
    tune,
)
from emotag_cli.motion.control import substitute


def tiny_config(**overrides) -> MotionConfig:
    """A small network of the same structure, for tests that train or step it."""
    base = dict(audio_dim=8, audio_tokens=4, identity_dim=4, d_model=32, n_layers=1, n_heads=2, ffn_dim=64,
                dropout=0.0, au_hidden=8, adain_hidden=16, n_expr=5, gate_hidden=16, mouth=False)
    base.update(overrides)
    return MotionConfig(**base)


def inputs(config: MotionConfig, batch: int = 2, window: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    audio = torch.randn(batch, window, config.audio_tokens, config.audio_dim, generator=g)
    aus = torch.rand(batch, window, config.au_dim, generator=g) * 3
    identity = torch.randn(batch, config.identity_dim, generator=g)
    return audio, aus, identity


# --- shapes and initial behaviour -------------------------------------------------------------

@pytest.mark.parametrize("audio_dim,identity_dim,residual", [(80, 128, "paper"), (384, 512, "code"),
                                                             (768, 512, "paper")])
def test_shapes_and_gate_range(audio_dim, identity_dim, residual):
    torch.manual_seed(0)
    config = MotionConfig(audio_dim=audio_dim, identity_dim=identity_dim, residual=residual)
    model = GRMN(config).eval()
    audio, aus, identity = inputs(config, batch=3)
    positions = torch.rand(3, 20, 3) * 0.2 - 0.1
    with torch.no_grad():
        out = model(audio * 50, aus, identity, mouth_positions=positions)   # large inputs: gate still bounded
    assert out.expr.shape == (3, 50) and out.jaw.shape == (3, 3) and out.delta.shape == (3, 53)
    assert out.gate.shape == (3, 1) and out.emotion_logits.shape == (3, 7)
    assert out.feature.shape == (3, 256) and out.audio_feature.shape == (3, 256)
    assert out.mouth.offset.shape == (3, 20, 3) and out.mouth.rotation.shape == (3, 20, 4)
    assert out.mouth.scale.shape == (3, 20, 3)
    assert torch.equal(out.delta, torch.cat([out.expr, out.jaw], -1))
    assert ((out.gate >= 0) & (out.gate <= 1)).all()
    assert torch.allclose(out.emotion_used.sum(-1), torch.ones(3))
    with pytest.raises(ValueError, match="audio tokens are"):
        model(torch.randn(1, 8, 16, audio_dim + 1), aus[:1], identity[:1])


def test_current_frame_aus_broadcast_over_the_window():
    config = tiny_config()
    model = GRMN(config).eval()
    torch.nn.init.normal_(model.encoder.fuse.weight)           # switch the AU path on
    audio, aus, identity = inputs(config)
    current = aus[:, 3]
    a = model(audio, current, identity)
    b = model(audio, current[:, None].expand(-1, 8, -1), identity)
    assert torch.allclose(a.delta, b.delta, atol=1e-6)
    assert not torch.allclose(a.delta, model(audio, aus, identity).delta, atol=1e-4)


def test_adain_starts_as_pure_normalisation():
    torch.manual_seed(0)
    adain = AdaIN(channels=256, identity_dim=512)
    features = torch.randn(4, 256) * 3 + 1
    normalised = channel_normalize(features)
    assert torch.allclose(normalised.mean(-1), torch.zeros(4), atol=1e-5)
    assert torch.allclose(normalised.std(-1, correction=0), torch.ones(4), atol=1e-4)
    for _ in range(3):
        assert torch.allclose(adain(features, torch.randn(4, 512) * 10), normalised, atol=1e-6)
    # once the last layer moves, the identity matters
    torch.nn.init.normal_(adain.mlp[-1].weight, std=0.1)
    assert not torch.allclose(adain(features, torch.randn(4, 512)), adain(features, torch.randn(4, 512)))


def test_at_init_identity_and_aus_do_not_change_the_motion():
    """AdaIN's zero last layer makes the output identity-independent; W_fuse = 0 turns AUs off."""
    config = MotionConfig(audio_dim=80, identity_dim=128)
    model = GRMN(config).eval()
    audio, aus, identity = inputs(config)
    assert torch.count_nonzero(model.encoder.fuse.weight) == 0
    with torch.no_grad():
        ref = model(audio, aus, identity).delta
        other_id = model(audio, aus, torch.randn_like(identity) * 5).delta
        other_aus = model(audio, torch.rand_like(aus) * 5, identity).delta
        other_audio = model(torch.randn_like(audio), aus, identity).delta
    assert torch.allclose(ref, other_id, atol=1e-6)
    assert torch.allclose(ref, other_aus, atol=1e-6)
    assert not torch.allclose(ref, other_audio, atol=1e-4)


def test_parameter_counts_match_the_described_architecture():
    """Counts from the layer sizes of docs/reference/motion-network.md (paper variant, wav2vec2, AdaFace)."""
    model = GRMN(MotionConfig(audio_dim=768, identity_dim=512))
    counts = count_parameters(model)
    d, f = 256, 1024
    transformer_layer = (4 * d * d + 4 * d) + (d * f + f + f * d + d) + 2 * 2 * d
    assert counts["encoder.audio"] == (768 * d + d) + 4 * transformer_layer        # ~0.2 M + ~3.2 M
    assert counts["encoder.adain_audio"] == (512 * 256 + 256) + (256 * 512 + 512)  # ~0.26 M
    assert counts["encoder.adain_au"] == (512 * 256 + 256) + (256 * 128 + 128)     # ~0.16 M
    assert counts["adain"] == counts["encoder.adain_audio"] + counts["encoder.adain_au"]
    assert counts["encoder.backbone"] == 4 * d * d                                  # 0.26 M, bias-free
    assert counts["decoder.base"] == d * 53 + 53
    assert counts["decoder.residual_encoder"] == 2 * d * d
    assert counts["decoder.residual_decoder"] == (d + 7) * d + d + d * 53 + 53
    grid = sum((r + 1) ** 2 for r in level_resolutions(12, 16, 256 * 0.15))
    assert counts["mouth.planes"] == 3 * grid
    assert counts["total"] == sum(p.numel() for p in model.parameters())


def test_config_round_trip_and_audio_check():
    config = MotionConfig(audio_dim=384, identity_dim=128, audio_encoder="whisper-tiny", residual="code")
    assert MotionConfig.from_dict(config.to_dict()) == config
    with pytest.raises(EmotagError, match="unknown settings"):
        MotionConfig.from_dict({**config.to_dict(), "bogus": 1})
    with pytest.raises(EmotagError, match="residual"):
        MotionConfig(residual="other").validate()
    config.check_audio("whisper-tiny", 384)
    with pytest.raises(EmotagError, match="whisper-tiny"):
        config.check_audio("mel", 80)
    with pytest.raises(EmotagError, match="768"):
        config.check_audio("wav2vec2:wav2vec2-base-960h", 768)


def test_state_dict_reloads_into_a_network_built_from_the_saved_config():
    config = tiny_config(mouth=True, mouth_levels=2)
    model = GRMN(config).eval()
    twin = GRMN(MotionConfig.from_dict(config.to_dict())).eval()
    twin.load_state_dict(model.state_dict())
    audio, aus, identity = inputs(config)
    assert torch.equal(model(audio, aus, identity).delta, twin(audio, aus, identity).delta)


# --- windows ----------------------------------------------------------------------------------

def test_frame_windows_and_masked_average():
    x = torch.arange(10.0)[:, None].expand(10, 3)
    windows, valid = frame_windows(x, window=8)
    assert windows.shape == (10, 8, 3) and valid.shape == (10, 8)
    assert torch.equal(windows[5, :, 0], torch.arange(1.0, 9.0))                 # [t − 4, t + 4)
    assert valid[0].tolist() == [False] * 4 + [True] * 4
    assert torch.equal(windows[0, :4], torch.zeros(4, 3))
    sub, sub_valid = frame_windows(x, 8, frames=torch.tensor([9]))
    assert torch.equal(sub, windows[9:10]) and torch.equal(sub_valid, valid[9:10])

    config = tiny_config()
    model = GRMN(config).eval()
    audio, aus, identity = inputs(config, batch=1)
    valid = torch.tensor([[False, False, True, True, True, True, True, True]])
    garbage = audio.clone()
    garbage[:, :2] = torch.randn(1, 2, *audio.shape[2:]) * 10
    a = model(audio, aus, identity, valid=valid)
    b = model(garbage, aus, identity, valid=valid)
    assert torch.allclose(a.delta, b.delta, atol=1e-6)
    assert not torch.allclose(model(audio, aus, identity).delta, model(garbage, aus, identity).delta, atol=1e-4)


# --- parameter selection ----------------------------------------------------------------------

def _one_step(model: GRMN, config: MotionConfig, params) -> None:
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01)
    audio, aus, identity = inputs(config, batch=4, seed=3)
    out = model(audio, aus, identity, mouth_positions=torch.rand(10, 3) * 0.1)
    target = torch.randn_like(out.delta)
    loss = F.mse_loss(out.delta, target) + seg_loss(out.emotion_logits, out.gate, torch.softmax(target[:, :7], -1))
    loss = loss + out.mouth.offset.square().mean() + out.mouth.scale.mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_tune_adain_changes_only_the_adain_parameters():
    torch.manual_seed(0)
    config = tiny_config(mouth=True, mouth_levels=2)
    model = GRMN(config)
    before = copy.deepcopy(model.state_dict())
    adain_names = {n for n, p in model.named_parameters() if any(p is q for q in adain_parameters(model))}
    assert adain_names and all("adain" in n for n in adain_names)
    trainable = tune(model, "adain")
    assert {id(p) for p in trainable} == {id(p) for p in adain_parameters(model)}
    _one_step(model, config, model.parameters())          # an optimiser given everything, as a trainer might
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, "the AdaIN parameters should have moved"
    assert changed <= adain_names, f"non-AdaIN parameters changed: {sorted(changed - adain_names)}"

    tune(model, "all")
    before = copy.deepcopy(model.state_dict())
    _one_step(model, config, model.parameters())
    changed = {k for k in before if not torch.equal(before[k], model.state_dict()[k])}
    assert changed - adain_names, "tune('all') should train the rest too"
    with pytest.raises(ValueError):
        tune(model, "mouth")


def test_optimizer_groups_separate_hash_grids():
    model = GRMN(tiny_config(mouth=True, mouth_levels=2))
    groups = {g["name"]: g for g in optimizer_groups(model, lr_net=5e-5, lr_grid=5e-3)}
    grid_ids = {id(p) for plane in model.mouth.planes for p in plane.parameters()}
    assert {id(p) for p in groups["grid"]["params"]} == grid_ids and groups["grid"]["lr"] == 5e-3
    assert len(groups["net"]["params"]) + len(grid_ids) == len(list(model.parameters()))
    tune(model, "adain")
    groups = optimizer_groups(model, 5e-4, 5e-3)
    assert [g["name"] for g in groups] == ["net"]
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in adain_parameters(model)}


# --- emotion control --------------------------------------------------------------------------

def test_emotion_request_and_teacher_forcing():
    assert EMOTIONS == __import__("emotag_cli.preprocess.emotion", fromlist=["EMOTIONS"]).EMOTIONS
    pi, g = emotion_request("happy", 0.8)
    assert pi[EMOTIONS.index("happy")] == pytest.approx(0.8) and pi[NEUTRAL] == pytest.approx(0.2)
    assert g.item() == pytest.approx(0.8) and pi.sum().item() == pytest.approx(1.0)
    pi, g = emotion_request({"happy": 3, "surprise": 1}, None)
    assert g is None and pi[EMOTIONS.index("happy")] == pytest.approx(0.75)
    assert emotion_request("auto", 0.3)[0] is None
    with pytest.raises(EmotagError, match="unknown emotion"):
        emotion_request("joy", 1.0)
    with pytest.raises(EmotagError, match="between 0 and 1"):
        emotion_request("happy", 1.5)

    p_emo = torch.softmax(torch.randn(200, 7), -1)
    emotion, intensity = teacher_forcing(p_emo, 1.0)
    assert torch.equal(emotion, p_emo) and torch.allclose(intensity[:, 0], 1 - p_emo[:, NEUTRAL])
    emotion, intensity = teacher_forcing(p_emo, 0.0)
    assert torch.isnan(emotion).all() and torch.isnan(intensity).all()
    emotion, intensity = teacher_forcing(p_emo, 0.5, torch.Generator().manual_seed(0))
    forced_e = ~torch.isnan(emotion[:, 0])
    forced_g = ~torch.isnan(intensity[:, 0])
    assert 60 < forced_e.sum() < 140 and 60 < forced_g.sum() < 140
    assert (forced_e != forced_g).any(), "the two substitutions are drawn independently"
    assert torch.equal(emotion[forced_e], p_emo[forced_e])


def test_per_sample_substitution_matches_separate_runs():
    config = tiny_config()
    model = GRMN(config).eval()
    audio, aus, identity = inputs(config, batch=2)
    pi = torch.softmax(torch.randn(7), -1)
    emotion = torch.stack([pi, torch.full((7,), float("nan"))])
    intensity = torch.tensor([[float("nan")], [0.9]])
    mixed = model(audio, aus, identity, emotion, intensity)
    auto = model(audio, aus, identity)
    given = model(audio, aus, identity, pi, 0.9)
    first_e = model(audio[:1], aus[:1], identity[:1], pi)
    assert torch.allclose(mixed.delta[0], first_e.delta[0], atol=1e-6)
    assert torch.allclose(mixed.gate_used[0], auto.gate[0]) and mixed.gate_used[1].item() == pytest.approx(0.9)
    assert torch.allclose(mixed.emotion_used[1], auto.emotion_used[1], atol=1e-6)
    assert torch.allclose(given.emotion_used, pi.expand(2, 7), atol=1e-6)
    assert torch.allclose(mixed.gate, auto.gate), "the predicted gate is reported whatever was applied"
    assert torch.allclose(substitute(None, auto.gate), auto.gate)


def test_code_variant_refuses_an_emotion():
    config = tiny_config(residual="code")
    model = GRMN(config).eval()
    audio, aus, identity = inputs(config)
    model(audio, aus, identity, intensity=0.5)             # the gate can still be set
    model(audio, aus, identity, torch.full((7,), float("nan")))
    with pytest.raises(EmotagError, match="residual='paper'"):
        model(audio, aus, identity, emotion_request("happy", 1.0)[0])
    emotion, _ = model.teacher_inputs(torch.softmax(torch.randn(2, 7), -1))
    assert emotion is None


def _toy_emotion_task(p_teacher: float, seed: int = 1, steps: int = 300):
    """Targets = base motion (a linear map of the audio) + intensity · offset of the emotion.

    The audio carries only a weak cue of the emotion, the teacher distribution an exact one — as
    with real data, where the teacher sees the face. Returns the drive test's measurements."""
    torch.manual_seed(seed)
    config = tiny_config(p_teacher=p_teacher)
    model = GRMN(config)
    g = torch.Generator().manual_seed(seed + 10)
    mixing = torch.randn(8, 8, generator=g) * 0.5
    offsets = torch.randn(6, 8, generator=g)
    cues = torch.randn(6, 8, generator=g)

    def batch(n, k=None, i=None):
        k = torch.randint(0, 6, (n,), generator=g) if k is None else k
        i = torch.rand(n, generator=g) if i is None else i
        audio = torch.randn(n, 2, 4, 8, generator=g) + 0.3 * i[:, None, None, None] * cues[k][:, None, None, :]
        base = audio.mean((1, 2)) @ mixing
        p_emo = torch.zeros(n, 7)
        p_emo[torch.arange(n), k] = i
        p_emo[:, NEUTRAL] = 1 - i
        return audio, base, base + i[:, None] * offsets[k], p_emo

    opt = torch.optim.Adam(model.parameters(), 3e-3)
    zeros_au, zeros_id = torch.zeros(32, 6), torch.zeros(32, 4)
    for _ in range(steps):
        audio, _, target, p_emo = batch(32)
        emotion, intensity = model.teacher_inputs(p_emo, g)
        out = model(audio, zeros_au, zeros_id, emotion, intensity)
        loss = F.mse_loss(out.delta, target) + seg_loss(out.emotion_logits, out.gate, p_emo)
        opt.zero_grad()
        loss.backward()
        opt.step()

    model.eval()
    happy, sad = EMOTIONS.index("happy"), EMOTIONS.index("sad")
    n = 64
    with torch.no_grad():
        audio, base, _, _ = batch(n, k=torch.full((n,), sad), i=torch.ones(n))   # sad-sounding audio
        args = (audio, torch.zeros(n, 6), torch.zeros(n, 4))
        full = model(*args, *emotion_request("happy", 1.0))
        none = model(*args, *emotion_request("happy", 0.0))
    move = full.delta - none.delta
    return dict(
        cos_happy=F.cosine_similarity(move, offsets[happy].expand_as(move), -1).mean().item(),
        err_happy=F.mse_loss(full.delta, base + offsets[happy]).item(),
        err_sad=F.mse_loss(full.delta, base + offsets[sad]).item(),
        base_err=F.mse_loss(none.delta, base).item(), base_var=base.var().item(),
        none_is_base=torch.allclose(none.delta, none.base, atol=1e-6))


def test_emotion_control_moves_the_motion_towards_the_requested_emotion():
    forced = _toy_emotion_task(p_teacher=0.5)
    # "happy" at intensity 1 on sad-sounding audio moves the motion along the happy offset ...
    assert forced["cos_happy"] > 0.8
    assert forced["err_happy"] < 0.25 * forced["err_sad"]
    # ... and intensity 0 is the base motion, which matches the emotion-free target
    assert forced["none_is_base"]
    assert forced["base_err"] < 0.5 * forced["base_var"]
    # without teacher forcing the decoder never learns to obey a given distribution
    free = _toy_emotion_task(p_teacher=0.0)
    assert forced["cos_happy"] > free["cos_happy"] + 0.2


# --- mouth refinement and hash grid -----------------------------------------------------------

def test_mouth_refinement_starts_near_identity_and_trains():
    torch.manual_seed(0)
    config = MotionConfig(audio_dim=80, identity_dim=128)
    model = GRMN(config)
    audio, aus, identity = inputs(config)
    positions = (torch.rand(2, 300, 3) * 2 - 1) * config.mouth_bound
    out = model(audio, aus, identity, mouth_positions=positions)
    d = out.mouth
    assert d.offset.abs().max() < 1e-3 * config.mouth_bound * 10         # < 0.15 mm for a 0.15 m box
    angle = 2 * torch.acos(d.rotation[..., 0].clamp(-1, 1))
    assert torch.allclose(d.rotation.norm(dim=-1), torch.ones(2, 300), atol=1e-6)
    assert angle.max() < math.radians(2)
    assert (d.scale - 1).abs().max() < 1e-3

    means, quats = torch.randn(2, 300, 3), F.normalize(torch.randn(2, 300, 4), dim=-1)
    scales = torch.rand(2, 300, 3) + 0.1
    m2, q2, s2 = d.apply(means, quats, scales)
    assert torch.allclose(m2, means, atol=2e-4) and torch.allclose(s2, scales, rtol=1e-3)
    assert torch.allclose(q2.norm(dim=-1), torch.ones(2, 300), atol=1e-5)

    off = model.mouth(positions, out.audio_feature, weight=0.0)
    assert torch.equal(off.offset, torch.zeros_like(off.offset)) and torch.equal(off.scale, torch.ones_like(off.scale))
    assert torch.equal(off.rotation, torch.tensor([1.0, 0, 0, 0]).expand_as(off.rotation))

    frame = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]).expand(2, 3, 3)   # 90° about z
    rotated, _, _ = d.apply(torch.zeros(2, 300, 3), quats, scales, frame=frame)
    assert torch.allclose(rotated[..., 0], -d.offset[..., 1]) and torch.allclose(rotated[..., 1], d.offset[..., 0])

    m2.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.mouth.planes.parameters())


def test_hash_grid_interpolates_its_table_and_is_differentiable():
    torch.manual_seed(0)
    grid = HashGrid2D(levels=3, level_dim=2, base_res=4, finest_res=16, log2_table=7)
    res = level_resolutions(3, 4, 16)
    assert res == [4, 8, 16]
    assert grid.hashed.tolist() == [False, False, True]             # 25, 81 ≤ 128 = table < 289
    with torch.no_grad():
        grid.features.uniform_(-1, 1)
    # at a vertex of the dense first level the output is that vertex's entry
    i, j = 3, 1
    vertex = torch.tensor([[i / res[0], j / res[0]]])
    assert torch.allclose(grid(vertex)[0, :2], grid.features[i + j * (res[0] + 1)])
    # bilinear inside a cell: the centre is the mean of its four corners (level 0)
    corners = torch.tensor([[i, j], [i + 1, j], [i, j + 1], [i + 1, j + 1]], dtype=torch.float32) / res[0]
    centre = corners.mean(0, keepdim=True)
    assert torch.allclose(grid(centre)[0, :2], grid(corners)[:, :2].mean(0), atol=1e-6)
    edge = torch.tensor([[(i + 0.25) / res[0], j / res[0]]])                   # along x only
    assert torch.allclose(grid(edge)[0, :2], 0.75 * grid(corners[:1])[0, :2] + 0.25 * grid(corners[1:2])[0, :2],
                          atol=1e-6)
    # continuous, position-dependent, finite on the hashed level, clamped outside [0, 1]
    x = torch.rand(500, 2, requires_grad=True)
    y = grid(x)
    assert y.shape == (500, 6) and torch.isfinite(y).all()
    assert (y[:, None, :] - y[None, :, :]).abs().sum(-1).triu(1).gt(0).sum() > 0.99 * 500 * 499 / 2
    assert torch.allclose(grid(x + 1e-5), y, atol=1e-3)
    assert torch.allclose(grid(torch.tensor([[1.7, -0.3]])), grid(torch.tensor([[1.0, 0.0]])))
    y.square().sum().backward()
    assert x.grad.abs().sum() > 0 and grid.features.grad.abs().sum() > 0
    assert grid.features.grad.ne(0).any(-1).float().mean() > 0.5       # most table rows were reached


# --- EMA --------------------------------------------------------------------------------------

def test_ema_tracks_and_swaps():
    model = torch.nn.Linear(3, 2)
    ema = EMA(model, decay=0.9, warmup=False)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)
    for k, p in model.named_parameters():
        assert torch.allclose(ema.shadow[k], 0.9 * start[k] + 0.1 * p)
    for _ in range(200):
        ema.update(model)
    for k, p in model.named_parameters():
        assert torch.allclose(ema.shadow[k], p, atol=1e-6)
    with torch.no_grad():
        model.weight.mul_(2)
    trained = model.weight.clone()
    with ema.average_parameters(model):
        assert torch.allclose(model.weight, ema.shadow["weight"])
    assert torch.equal(model.weight, trained)

    warm = EMA(model, decay=0.995)
    assert warm.current_decay() == pytest.approx(0.1)
    state = ema.state_dict()
    other = EMA(model, decay=0.5)
    other.load_state_dict(state)
    assert other.decay == 0.9 and other.updates == 201 and torch.equal(other.shadow["bias"], ema.shadow["bias"])


# --- losses -----------------------------------------------------------------------------------

def test_seg_losses():
    p = torch.softmax(torch.randn(5, 7), -1)
    assert emotion_kl_loss(torch.log(p) + 3.0, p).abs() < 1e-6         # logits up to a constant
    assert emotion_kl_loss(torch.randn(5, 7), p) > 0
    onehot = F.one_hot(torch.tensor([3, NEUTRAL]), 7).float()
    assert torch.isfinite(emotion_kl_loss(torch.randn(2, 7), onehot))
    expected = -torch.log_softmax(torch.tensor([[0.0, 1, 2, 3, 4, 5, 6]]), -1)[0, 3]
    assert emotion_kl_loss(torch.tensor([[0.0, 1, 2, 3, 4, 5, 6]]), onehot[:1]) == pytest.approx(expected.item())
    gate = 1 - p[:, NEUTRAL:NEUTRAL + 1]
    assert gate_loss(gate, p) == 0
    assert gate_loss(gate + 0.3, p) == pytest.approx(0.3)
    assert seg_loss(torch.log(p), gate + 0.3, p) == pytest.approx(0.1 * 0.3, abs=1e-6)


def test_render_loss():
    torch.manual_seed(0)
    img = torch.rand(2, 3, 40, 40)
    assert render_loss(img, img).abs() < 1e-6                            # L1 and D-SSIM both 0
    noisy = (img + 0.1 * torch.randn_like(img)).clamp(0, 1)
    assert render_loss(noisy, img) > (noisy - img).abs().mean()          # D-SSIM adds to L1
    mask = torch.zeros(2, 1, 40, 40)
    mask[..., 5:25, 5:25] = 1
    outside = img.clone()
    outside[..., 34:, 34:] = 0.0                                         # beyond the SSIM window of the mask
    assert render_loss(outside, img, mask).abs() < 1e-6
    assert render_loss(outside, img) > 0
    shifted = img + 0.05 * mask
    assert render_loss(shifted, img, mask, dssim_weight=0.0) == pytest.approx(0.05, rel=1e-4)


def test_flame_loss():
    expr, jaw = torch.randn(4, 50), torch.randn(4, 3)
    tracked = torch.cat([expr, torch.randn(4, 50)], -1)                  # 100 tracked, 50 predicted
    assert flame_loss(expr, jaw, tracked, jaw) == 0
    assert flame_loss(expr + 0.5, jaw, tracked, jaw) == pytest.approx(0.25)


def test_geometry_loss_is_zero_for_identical_maps_and_row_affine_invariant():
    torch.manual_seed(0)
    h, w = 24, 32
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    depth = (2.0 + 0.3 * (xx**2 + yy**2) + 0.05 * torch.sin(5 * xx))[None, None].repeat(2, 1, 1, 1)
    mask = ((xx**2 + yy**2) < 0.8).float()[None, None].repeat(2, 1, 1, 1)
    normals = F.normalize(torch.randn(2, 3, h, w), dim=1)
    assert depth_loss(depth, depth, mask) == 0
    assert geometry_loss(depth, depth, normals, normals, mask) == 0
    # a per-image scale and a different offset per row leave the normalised depth unchanged
    shifted = 3.5 * depth + torch.randn(2, 1, h, 1) * 10
    assert depth_loss(shifted, depth, mask) < 1e-4
    assert torch.allclose(row_normalize(shifted, mask), row_normalize(depth, mask), atol=1e-4)
    # whatever lies off the mask (background, NaN) is ignored ...
    target = torch.where(mask > 0, depth, torch.full_like(depth, float("nan")))
    assert depth_loss(depth, target, mask) < 1e-6
    # ... but a change of shape within the rows is not
    assert depth_loss(depth + 0.3 * xx.abs(), depth, mask) > 0.1
    assert normal_loss(normals, normals + 0.1, mask) == pytest.approx(0.1, rel=1e-5)
    assert normal_loss(normals, normals + 0.1 * (1 - mask), mask) == 0
    expected = 0.01 * depth_loss(depth ** 2, depth, mask) + 0.001 * 0.1
    assert geometry_loss(depth ** 2, depth, normals, normals + 0.1, mask) == pytest.approx(expected.item(), rel=1e-5)


def test_sequence_equals_windowed_forward():
    config = tiny_config()
    model = GRMN(config).eval()
    torch.nn.init.normal_(model.encoder.fuse.weight, std=0.3)            # AUs matter
    g = torch.Generator().manual_seed(5)
    audio = torch.randn(13, config.audio_tokens, config.audio_dim, generator=g)
    aus = torch.rand(13, config.au_dim, generator=g)
    identity = torch.randn(config.identity_dim, generator=g)
    pi, gate = emotion_request("sad", 0.6)
    with torch.no_grad():
        seq = model.sequence(audio, aus, identity, pi, gate, chunk=5)
        wa, valid = frame_windows(audio, config.window)
        wu, _ = frame_windows(aus, config.window)
        win = model(wa, wu, identity.expand(13, -1), pi, gate, valid=valid)
    assert seq.delta.shape == (13, config.n_expr + 3)
    for field in ("delta", "gate", "emotion_logits", "audio_feature"):
        assert torch.allclose(getattr(seq, field), getattr(win, field), atol=1e-5), field
