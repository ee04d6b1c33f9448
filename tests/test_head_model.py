"""Head models: linear blend skinning, the FLAME pickle loader, the open model and its builder."""

from __future__ import annotations

import json
import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from emotag_cli.errors import EmotagError, MissingBackendError
from emotag_cli.head import HeadPose, flame_forward, landmarks_from_vertices, load_head_model
from emotag_cli.head.builder.assemble import BuildSettings, build_open_model, save_asset
from emotag_cli.head.builder.harmonic import edges_of
from emotag_cli.head.builder.jaw import apply_jaw, fit_jaw
from emotag_cli.head.builder.topology import (
    LEFT_IRIS,
    LIP_INNER_LOWER,
    LIP_INNER_UPPER,
    N_FACE,
    OPENINGS,
    face_triangles,
    mirror_index,
)
from emotag_cli.head.builder.tracks import mirror
from emotag_cli.head.canonical_face import canonical_vertices
from emotag_cli.head.flame_pkl import MEDIAPIPE_FOR_IBUG68, find_flame_model, load_flame, read_landmark_embedding
from emotag_cli.head.lbs import axis_angle_to_matrix
from emotag_cli.head.open_model import load_open_model

CHIN, FOREHEAD, NOSE_TIP, UPPER_LIP, LOWER_LIP = 152, 10, 1, 13, 14


@pytest.fixture(scope="module")
def open_model():
    return load_open_model()


def pose_of(model, batch=1, **values) -> HeadPose:
    pose = HeadPose.zeros(batch, model.n_shape, model.n_expr)
    for name, value in values.items():
        getattr(pose, name)[:] = torch.as_tensor(value, dtype=torch.float32)
    return pose


def random_pose(model, batch, seed) -> HeadPose:
    g = torch.Generator().manual_seed(seed)
    pose = HeadPose.zeros(batch, model.n_shape, model.n_expr)
    for name in ("shape", "expr"):
        getattr(pose, name)[:] = torch.randn(getattr(pose, name).shape, generator=g)
    for name in ("rotation", "neck", "jaw", "eyes"):
        getattr(pose, name)[:] = 0.2 * torch.randn(getattr(pose, name).shape, generator=g)
    pose.translation[:] = 0.1 * torch.randn(batch, 3, generator=g)
    return pose


# --- linear blend skinning on the open model -------------------------------------------------------


def test_zero_pose_gives_the_template(open_model):
    verts = flame_forward(open_model, pose_of(open_model, 2))
    assert torch.allclose(verts, open_model.v_template.expand(2, -1, -1), atol=1e-7)


def test_global_rotation_and_translation_are_rigid(open_model):
    aa = torch.tensor([[0.3, -0.5, 0.2]])
    t = torch.tensor([[0.01, -0.02, 0.5]])
    verts, joints = flame_forward(open_model, pose_of(open_model, rotation=aa, translation=t), return_joints=True)
    root = open_model.J_regressor[0] @ open_model.v_template
    expected = (open_model.v_template - root) @ axis_angle_to_matrix(aa[0]).T + root + t
    assert torch.allclose(verts[0], expected, atol=1e-6)
    assert torch.allclose(joints[0, 0], root + t[0], atol=1e-6)


def test_jaw_moves_the_chin_and_lower_lip_only(open_model):
    rest = open_model.v_template
    moved = flame_forward(open_model, pose_of(open_model, jaw=[[0.2, 0.0, 0.0]]))[0]
    shift = (moved - rest).norm(dim=-1)
    assert shift[CHIN] > 0.01 and shift[LOWER_LIP] > 0.008      # metres, at 11.5 degrees
    for still in (FOREHEAD, NOSE_TIP, UPPER_LIP):
        assert shift[still] < 1e-6
    assert moved[CHIN, 1] < rest[CHIN, 1]                        # positive x-rotation opens (FLAME)
    part = np.asarray(open_model.meta["vertex_part"])
    names = open_model.meta["parts"]
    for rigid in ("ear", "eyeball", "neck"):
        assert shift[torch.from_numpy(part == names.index(rigid))].max() < 1e-6


def test_eye_rotation_moves_only_that_eye(open_model):
    eyes = torch.tensor([[0.0, 0.3, 0.0, 0.0, 0.0, 0.0]])             # left eye turns, right stays
    verts, joints = flame_forward(open_model, pose_of(open_model, eyes=eyes), return_joints=True)
    shift = (verts[0] - open_model.v_template).norm(dim=-1)
    part = np.asarray(open_model.meta["vertex_part"])
    eyeball = np.flatnonzero(part == open_model.meta["parts"].index("eyeball"))
    left_ball = eyeball[open_model.v_template[eyeball, 0].numpy() > 0]
    moved = set(torch.nonzero(shift > 1e-7).flatten().tolist())
    assert moved <= set(LEFT_IRIS) | set(left_ball.tolist())
    assert shift[LEFT_IRIS[0]] > 0.003                                # the iris slides across the eye
    centre = joints[0, 3]
    before = (open_model.v_template[list(LEFT_IRIS)] - centre).norm(dim=-1)
    after = (verts[0, list(LEFT_IRIS)] - centre).norm(dim=-1)
    assert torch.allclose(before, after, atol=1e-6)                   # rotation about the eyeball centre


def test_neck_turns_the_head_over_a_fixed_collar(open_model):
    verts = flame_forward(open_model, pose_of(open_model, neck=[[0.0, 0.4, 0.0]]))[0]
    shift = (verts - open_model.v_template).norm(dim=-1)
    bottom = open_model.J_regressor[0] > 0
    assert shift[bottom].max() < 1e-6
    assert shift[NOSE_TIP] > 0.01
    exact = "donot_use_mm_for_euclid_dist"
    d_before = torch.cdist(open_model.v_template[:N_FACE], open_model.v_template[:N_FACE], compute_mode=exact)
    d_after = torch.cdist(verts[:N_FACE], verts[:N_FACE], compute_mode=exact)
    assert torch.allclose(d_before, d_after, atol=1e-6)               # the face itself moves rigidly


def test_open_model_landmarks_are_its_first_478_vertices(open_model):
    verts = flame_forward(open_model, random_pose(open_model, 3, seed=1))
    lmk = landmarks_from_vertices(open_model, verts)
    assert open_model.meta["landmark_indices"] == list(range(478))
    assert torch.equal(lmk, verts[:, :478])


def test_width_component_scales_the_head_sideways(open_model):
    wide = flame_forward(open_model, pose_of(open_model, shape=torch.eye(open_model.n_shape)[:1]))[0]
    rest = open_model.v_template
    ratio = (wide[:, 0].max() - wide[:, 0].min()) / (rest[:, 0].max() - rest[:, 0].min())
    assert ratio == pytest.approx(1 + open_model.meta["provenance"]["settings"]["scale_sd"], rel=1e-4)
    assert torch.allclose(wide[:, 1:], rest[:, 1:], atol=1e-7)


# --- the shipped open model ------------------------------------------------------------------------


def test_open_asset_is_consistent_with_its_provenance(open_model):
    prov = open_model.meta["provenance"]
    assert prov["counts"]["vertices"] == open_model.n_vertices <= 1500
    assert prov["counts"]["faces"] == open_model.faces.shape[0]
    assert open_model.n_expr == prov["expression"]["components"] == 50
    assert prov["clips"] and all(len(c["video_sha256"] or "") == 64 for c in prov["clips"])
    assert prov["created"] and prov["settings"]["n_expr"] == 50
    # The 6.3 cm inter-ocular distance of an adult: the model is in metres.
    iod = (open_model.v_template[468] - open_model.v_template[473]).norm()
    assert 0.055 < iod < 0.07
    # Expression directions are orthogonal on the face and ordered by the variance recorded.
    e = open_model.exprdirs[:N_FACE].reshape(-1, open_model.n_expr).double()
    gram = e.T @ e
    norms = gram.diagonal().sqrt()
    assert torch.allclose(gram / (norms[:, None] * norms[None]), torch.eye(open_model.n_expr, dtype=torch.float64),
                          atol=1e-4)
    assert (norms[1:] <= norms[:-1] * (1 + 1e-5)).all()
    assert np.allclose(norms.numpy(), prov["expression"]["sd_m"], rtol=1e-4)
    ratio = np.asarray(prov["expression"]["variance_ratio"])
    assert np.allclose(ratio / ratio[0], (norms**2 / norms[0] ** 2).numpy(), rtol=1e-3)


def test_open_mesh_is_closed_except_for_eyes_and_mouth(open_model):
    part = np.asarray(open_model.meta["vertex_part"])
    names = open_model.meta["parts"]
    surface = np.flatnonzero((part == names.index("face")) | (part == names.index("scalp")))
    faces = open_model.faces.numpy()
    faces = faces[np.isin(faces, surface).all(axis=1)]
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    assert len(np.unique(directed, axis=0)) == len(directed)          # consistently wound
    edges, counts = np.unique(np.sort(directed, axis=1), axis=0, return_counts=True)
    rims = {tuple(sorted(e)) for up, lo in OPENINGS.values() for c in (up, lo) for e in zip(c, c[1:])}
    open_edges = {tuple(e) for e in edges[counts == 1].tolist()}
    assert open_edges == rims and (counts <= 2).all()
    # Normals point outwards: the signed volume is positive.
    v = open_model.v_template.double().numpy()
    assert np.einsum("ij,ij->i", v[faces[:, 0]], np.cross(v[faces[:, 1]], v[faces[:, 2]])).sum() > 0


def test_face_topology_opens_eyes_and_mouth():
    faces = face_triangles()
    assert faces.shape == (852, 3)
    lips = set(LIP_INNER_UPPER) | set(LIP_INNER_LOWER)
    assert not any(set(f) <= lips for f in faces.tolist())
    m = mirror_index()
    assert (m[m] == np.arange(478)).all()
    canon = canonical_vertices()
    assert np.allclose(mirror(np.concatenate([canon, canon[:10]])[None])[0, :N_FACE], canon)


def test_jaw_fit_recovers_known_rotations():
    rng = np.random.default_rng(0)
    neutral = canonical_vertices() * 0.01
    weights = np.clip((-0.045 - neutral[:, 1]) / 0.02 + 0.5, 0, 1)      # 0 above the mouth, 1 on the chin
    joint = np.array([0.0, 0.0, -0.02])
    truth = np.column_stack([rng.uniform(0, 0.3, 40), rng.normal(0, 0.03, 40), rng.normal(0, 0.03, 40)])
    frames = apply_jaw(neutral, weights, joint, truth) + rng.normal(0, 1e-4, (40, N_FACE, 3))
    fitted = fit_jaw(frames, neutral, weights, joint, side_penalty=0.0)
    assert np.degrees(np.abs(fitted - truth)).max() < 0.3


# --- the builder, on synthetic scenes ---------------------------------------------------------------


def _iris(face: np.ndarray) -> np.ndarray:
    """Iris centre and ring (medial, top, lateral, bottom) of each eye, for synthetic landmarks."""
    out = []
    for corners, side in (((33, 133), -1), ((263, 362), 1)):
        c = face[list(corners)].mean(axis=0)
        r = 0.55
        ring = [c + [-side * r, 0, 0], c + [0, r, 0], c + [side * r, 0, 0], c + [0, -r, 0]]
        out += [c] + ring
    out = np.array(out)
    return out[[0, 1, 2, 3, 4, 5, 8, 7, 6, 9]]  # left ring in MediaPipe's order: lateral first


def _write_scene(path, rng, brow_mode, n=40):
    """A fake scene: canonical face + identity offsets + a brow motion, posed, in crop pixels."""
    canon = canonical_vertices()
    identity = canon + rng.normal(0, 0.05, canon.shape)
    amp = rng.normal(0, 1.0, n)
    face = identity + amp[:, None, None] * brow_mode + rng.normal(0, 0.01, (n, N_FACE, 3))
    pts = np.concatenate([face, np.stack([_iris(f) for f in face])], axis=1)        # [n, 478, 3] cm
    rot = axis_angle_to_matrix(torch.as_tensor(rng.normal(0, 0.15, (n, 3)))).numpy()
    pix = 9.0 * np.einsum("nij,npj->npi", rot, pts) * np.array([1, -1, -1]) + np.array([128, 128, 0])
    path.mkdir()
    np.save(path / "landmarks.npy", pix.astype(np.float32))
    manifest = {"inputs": {"video": {"path": f"/media/{path.name}.mp4", "sha256": "ab" * 32}}}
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def test_builder_learns_an_injected_expression(tmp_path):
    rng = np.random.default_rng(3)
    canon = canonical_vertices()
    brow_mode = np.zeros_like(canon)
    brow_mode[canon[:, 1] > 3.5, 1] = 0.4                               # brows and forehead up 4 mm
    scenes = [_write_scene(tmp_path / f"s{i}", rng, brow_mode) for i in range(2)]
    settings = BuildSettings(n_expr=6, n_shape_pca=2)
    arrays = build_open_model(scenes, settings, log=lambda *_: None)
    save_asset(tmp_path / "m.npz", arrays)
    model = load_open_model(tmp_path / "m.npz")

    assert model.n_expr == 6 and model.n_shape == 3 + 2
    prov = model.meta["provenance"]
    assert [c["scene"] for c in prov["clips"]] == ["s0", "s1"]
    assert prov["clips"][0]["video"] == "s0.mp4" and prov["clips"][0]["frames_used"] == 40
    first = model.exprdirs[:N_FACE, :, 0].double().flatten()
    mode = torch.as_tensor(brow_mode).flatten()
    cos = (first @ mode).abs() / (first.norm() * mode.norm())
    assert cos > 0.95
    assert prov["expression"]["variance_ratio"][0] > 0.8
    verts = flame_forward(model, random_pose(model, 2, seed=4))
    assert torch.equal(landmarks_from_vertices(model, verts), verts[:, :478])


# --- FLAME from the user's pickle ------------------------------------------------------------------


@pytest.fixture
def fake_chumpy(monkeypatch):
    """A stand-in ``chumpy.ch.Ch`` that pickles like chumpy's (its __dict__ with the array in 'x')."""
    module = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x)
            self._dirty_vars = {"x"}
            self._itr = None
            self._depends_on_deps = {}
            self._make_dense = False

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    module.Ch = Ch
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", module)
    return Ch


def _flame_dict(ch, v=30, seed=0):
    rng = np.random.default_rng(seed)
    regressor = rng.random((5, v)) * (rng.random((5, v)) < 0.3)
    regressor /= regressor.sum(axis=1, keepdims=True)
    weights = rng.random((v, 5))
    return {
        "v_template": ch(rng.normal(0, 0.05, (v, 3))),
        "shapedirs": ch(rng.normal(0, 1e-3, (v, 3, 400))),
        "posedirs": rng.normal(0, 1e-3, (v, 3, 36)),
        "J_regressor": scipy.sparse.csc_matrix(regressor),
        "kintree_table": np.array([[2**32 - 1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.uint32),
        "weights": ch(weights / weights.sum(axis=1, keepdims=True)),
        "f": rng.integers(0, v, (12, 3)).astype(np.uint32),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def test_flame_pickle_loads_through_the_restricted_unpickler(tmp_path, fake_chumpy):
    d = _flame_dict(fake_chumpy)
    (tmp_path / "generic_model.pkl").write_bytes(pickle.dumps(d, protocol=2))
    np.savez(tmp_path / "emb.npz", lmk_face_idx=np.array([0, 3, 5]), lmk_b_coords=np.full((3, 3), 1 / 3),
             landmark_indices=np.array([1, 33, 263]))
    model = load_flame(tmp_path / "generic_model.pkl", tmp_path / "emb.npz")

    assert model.n_shape == 300 and model.n_expr == 100
    assert np.allclose(model.shapedirs.numpy(), d["shapedirs"].x[:, :, :300], atol=1e-7)
    assert np.allclose(model.exprdirs.numpy(), d["shapedirs"].x[:, :, 300:], atol=1e-7)
    assert np.allclose(model.J_regressor.numpy(), d["J_regressor"].toarray(), atol=1e-7)
    assert model.parents.tolist() == [-1, 0, 1, 1, 1]
    assert model.meta["landmark_indices"] == [1, 33, 263]
    # FLAME's pose correctives: offset[v, c] = sum_k posedirs[v, c, k] * feature[k].
    feature = torch.randn(1, 36)
    offsets = (feature @ model.posedirs).reshape(-1, 3).numpy()
    assert np.allclose(offsets, np.einsum("vck,k->vc", d["posedirs"], feature[0].numpy()), atol=1e-6)
    verts = flame_forward(model, pose_of(model))
    assert torch.allclose(verts[0], model.v_template)


def test_flame_pickle_protocol0_and_68_point_embedding(tmp_path, fake_chumpy):
    (tmp_path / "flame2023_Open.pkl").write_bytes(pickle.dumps(_flame_dict(fake_chumpy), protocol=0))
    emb = {"full_lmk_faces_idx": np.arange(68)[None] % 12, "full_lmk_bary_coords": np.full((1, 68, 3), 1 / 3)}
    np.save(tmp_path / "landmark_embedding.npy", emb, allow_pickle=True)
    faces, bary, indices, scheme = read_landmark_embedding(tmp_path / "landmark_embedding.npy")
    assert scheme == "ibug68" and indices == list(MEDIAPIPE_FOR_IBUG68) and bary.shape == (68, 3)
    model = load_flame(tmp_path / "flame2023_Open.pkl")   # the embedding is found beside the model
    assert model.n_landmarks == 68 and model.id == "flame:flame2023_Open"


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickles_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "generic_model.pkl").write_bytes(pickle.dumps({"v_template": _Payload(marker)}, protocol=2))
    np.savez(tmp_path / "emb.npz", lmk_face_idx=np.zeros(1), lmk_b_coords=np.ones((1, 3)),
             landmark_indices=np.zeros(1))
    with pytest.raises(EmotagError, match="refusing"):
        load_flame(tmp_path / "generic_model.pkl", tmp_path / "emb.npz")
    np.save(tmp_path / "evil.npy", np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(EmotagError, match="refusing"):
        read_landmark_embedding(tmp_path / "evil.npy")
    assert not marker.exists()


def test_missing_flame_model_says_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOTAG_HOME", str(tmp_path))
    with pytest.raises(MissingBackendError) as info:
        find_flame_model()
    message = str(info.value)
    assert "https://flame.is.tue.mpg.de" in message and str(tmp_path / "flame") in message
    assert "--flame-model" in message
    with pytest.raises(MissingBackendError, match="nowhere.pkl"):
        find_flame_model(tmp_path / "nowhere.pkl")
    with pytest.raises(MissingBackendError, match="flame.is.tue.mpg.de"):
        load_head_model("flame")
    with pytest.raises(EmotagError, match="unknown head model"):
        load_head_model("nope")
    assert load_head_model("open").id == "open"


def test_edges_of_counts_shared_edges_once():
    assert edges_of(np.array([[0, 1, 2], [2, 1, 3]])).tolist() == [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3]]
