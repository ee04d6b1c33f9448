"""Edge strain of expression offsets (head/edge_strain.py), against the mesh built vertex by vertex,
and its use in the emotion refinement: a strain limit holds the refined direction to it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from emotag_cli.head.builder.harmonic import edges_of
from emotag_cli.head.edge_strain import EdgeStrain, excess_strain, strain_summary
from emotag_cli.head.open_model import load_open_model


def reference_strain(model, shape: torch.Tensor, e: torch.Tensor) -> np.ndarray:
    """The strain the slow way: both meshes in full, then every edge's length."""
    faces = model.faces.numpy()
    rest = (model.v_template + model.shapedirs[..., :len(shape)] @ shape).numpy().astype(np.float64)
    moved = rest + (model.exprdirs[..., :len(e)] @ e).numpy()
    out = []
    for i, j in edges_of(faces):
        out.append(np.linalg.norm(moved[i] - moved[j]) / np.linalg.norm(rest[i] - rest[j]) - 1)
    return np.asarray(out)


def test_strain_matches_the_mesh_built_in_full():
    model = load_open_model()
    gen = torch.Generator().manual_seed(0)
    shape = torch.randn(model.n_shape, generator=gen)
    e = torch.randn(50, generator=gen) * 2
    strain = EdgeStrain(model, shape)
    assert strain.n_edges == len(edges_of(model.faces.numpy()))
    assert torch.allclose(strain(torch.zeros(50)), torch.zeros(strain.n_edges), atol=1e-6)
    ours = strain(e).double().numpy()
    assert np.abs(ours - reference_strain(model, shape, e)).max() < 1e-4
    assert np.abs(ours).max() > 0.01                        # a real offset does strain the mesh


def test_excess_is_the_part_beyond_the_bound_either_way():
    strain = torch.tensor([0.3, -0.5, 0.05, -0.1])
    bound = torch.tensor([0.2, 0.2, 0.2, 0.2])
    assert torch.allclose(excess_strain(strain, bound), torch.tensor([0.1, 0.3, 0.0, 0.0]))
    assert strain_summary(strain)["max"] == 0.5


def test_a_strain_limit_holds_the_refined_direction_to_it(avatar, speech_file):
    """The same steps through renderer and teacher, with and without the strain term (slack 0): with
    it, the largest strain beyond the start's is a fraction of what the free refinement reaches."""
    from emotag_cli.head.emotion_directions import load_emotion_directions
    from emotag_cli.media.audio import decode_audio
    from emotag_cli.preprocess.emotion import emotion_teacher
    from emotag_cli.synthesis.emotion_refine import RefineSettings, prepare_avatar, refine_directions

    wav, _ = decode_audio(speech_file("emotalk_happy.wav"), 16000)
    directions = load_emotion_directions()
    keep = [directions.emotions.index("happy")]
    happy = dataclasses.replace(directions, emotions=("happy",), directions=directions.directions[keep],
                                magnitude=directions.magnitude[keep])
    a = prepare_avatar(avatar, wav[:16000], 16000, happy, size=128)
    box = np.array([24.0, 20.0, 104.0, 100.0], np.float32)     # the tiny avatar's face at 128 px
    loose = RefineSettings(steps=6, frames=1, size=128, lr=0.3, anchor=0.0, max_factor=4.0)
    results = {}
    held = dataclasses.replace(loose, strain_slack=0.0, strain_weight=1e4)
    for name, settings in {"free": loose, "held": held}.items():
        refined, summary = refine_directions(happy, [a], emotion_teacher("fer"), settings, log=lambda _: None,
                                             find_box=lambda _: box)
        strain = EdgeStrain(a.forward.model, a.shape[0])
        start = torch.from_numpy(happy.directions[0] * happy.magnitude[0]).float()[:50]
        end = torch.from_numpy(refined.directions[0] * refined.magnitude[0]).float()[:50]
        results[name] = float(excess_strain(strain(end), strain(start).abs()).max())
        if name == "held":
            assert summary["happy"]["strain_excess_max"] == pytest.approx(results[name], abs=2e-3)
    assert results["free"] > 0.02, "the free refinement never strained the mesh: the test shows nothing"
    assert results["held"] < 0.5 * results["free"]
