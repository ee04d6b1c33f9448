"""`emotag track`: the landmark model, camera conventions, the fit (synthetic round trips and a real
clip), the track artifact, and the VHAP import.

The synthetic clips are rendered from a small FLAME-format model (tests/_synthetic_head.py)
through a known camera, with Gaussian pixel noise, and fitted back.
"""

from __future__ import annotations

import json
import math

import av
import numpy as np
import pytest
import torch

from emotag_cli.artifact import new_manifest, write_manifest
from emotag_cli.camera import (
    Camera,
    look_at_head_w2c,
    opencv_w2c_to_opengl_c2w,
    opengl_c2w_to_opencv_w2c,
    project,
    transform_points,
)
from emotag_cli.config import TrackConfig, from_dict
from emotag_cli.errors import EmotagError
from emotag_cli.head.lbs import HeadPose, flame_forward, landmarks_from_vertices
from emotag_cli.progress import quiet
from emotag_cli.scene import Scene, frame_name
from emotag_cli.track.export import export_vhap
from emotag_cli.track.fit import fit_landmarks
from emotag_cli.track.landmark_model import LandmarkModel
from emotag_cli.track.pipeline import track
from emotag_cli.track.report import jaw_lip_correlation, reprojection_errors
from emotag_cli.track.result import open_track
from emotag_cli.track.solver import solve_bordered_tridiagonal
from emotag_cli.track.vhap_import import import_vhap, read_vhap_export

from _synthetic_head import make_head_model

KEYS = ("shape", "expr", "rotation", "neck", "jaw", "eyes", "translation")
FAST = dict(rigid_iters=3, iters=15)


@pytest.fixture(scope="module")
def model():
    return make_head_model(seed=0)


def smooth_noise(rng, n: int, k: int, scale: float, width: float) -> np.ndarray:
    """[n, k] Gaussian-smoothed noise (std ≈ scale, correlation over ~width frames)."""
    pad = int(4 * width)
    x = rng.normal(size=(n + 2 * pad, k))
    t = np.arange(-pad, pad + 1)
    kernel = np.exp(-0.5 * (t / width) ** 2)
    kernel /= np.sqrt((kernel**2).sum())
    return scale * np.stack([np.convolve(x[:, j], kernel, "same")[pad:pad + n] for j in range(k)], 1)


def random_params(model, n: int, seed: int) -> dict[str, np.ndarray]:
    """A plausible random clip: smooth head motion, speech-like jaw, gaze shared by both eyes."""
    rng = np.random.default_rng(seed)
    gaze = smooth_noise(rng, n, 3, 0.12, 4)
    jaw = np.zeros((n, 3))
    jaw[:, 0] = np.clip(0.12 + smooth_noise(rng, n, 1, 0.12, 2)[:, 0], 0, 0.45)
    p = {
        "shape": rng.normal(size=model.n_shape) * 0.8,
        "expr": smooth_noise(rng, n, 50, 0.8, 3),
        "rotation": smooth_noise(rng, n, 3, 0.15, 12),
        "neck": np.zeros((n, 3)),
        "jaw": jaw,
        "eyes": np.concatenate([gaze, gaze], 1),
        "translation": smooth_noise(rng, n, 3, 0.01, 12),
    }
    return {k: v.astype(np.float32) for k, v in p.items()}


def render(model, params, camera: Camera) -> np.ndarray:
    """Model landmarks through the camera as scene landmarks [N, L, 3]: x, y pixels and MediaPipe-like
    relative depth z (pixel scale)."""
    lm = LandmarkModel(model)
    with torch.no_grad():
        x = lm(*(torch.as_tensor(params[k]) for k in KEYS))
        cam = transform_points(torch.as_tensor(camera.w2c, dtype=torch.float32), x)
        uv = project(cam, camera.fx, camera.fy, camera.cx, camera.cy)
        depth = cam[..., 2]
        mean = depth.mean(1, keepdim=True)
        z = (depth - mean) * camera.fx / mean
    return torch.cat([uv, z[..., None]], -1).numpy()


def synthetic_camera(size: int, focal: float = 3.0, distance: float = 1.1) -> Camera:
    """A camera ``distance`` metres in front of the head; the face spans about half the frame."""
    return Camera(fx=focal * size, fy=focal * size, cx=size / 2, cy=size / 2, width=size, height=size,
                  w2c=look_at_head_w2c(np.array([0.0, 0.0, distance])))


def head_rotation_error_deg(a: dict, b: dict) -> np.ndarray:
    """Angle [N] between the head orientations (global ∘ neck) of two parameter sets."""
    from scipy.spatial.transform import Rotation

    def total(p):
        return Rotation.from_rotvec(p["rotation"]) * Rotation.from_rotvec(p["neck"])

    return np.degrees((total(a) * total(b).inv()).magnitude())


# ---------------------------------------------------------------- landmark model and camera


def test_landmark_model_equals_full_skinning(model):
    g = torch.Generator().manual_seed(3)
    n = 7
    pose = HeadPose(torch.randn(1, 20, generator=g).expand(n, -1), torch.randn(n, 50, generator=g),
                    0.3 * torch.randn(n, 3, generator=g), 0.2 * torch.randn(n, 3, generator=g),
                    0.2 * torch.randn(n, 3, generator=g), 0.2 * torch.randn(n, 6, generator=g),
                    torch.randn(n, 3, generator=g))
    full = landmarks_from_vertices(model, flame_forward(model, pose))
    lm = LandmarkModel(model)
    fast = lm(pose.shape[0], pose.expr, pose.rotation, pose.neck, pose.jaw, pose.eyes, pose.translation)
    assert torch.allclose(fast, full, atol=1e-5)
    # Fewer expression components than the model has: the rest count as zero.
    pose.expr[:, 20:] = 0
    full = landmarks_from_vertices(model, flame_forward(model, pose))
    fast = lm(pose.shape[0], pose.expr[:, :20], pose.rotation, pose.neck, pose.jaw, pose.eyes, pose.translation)
    assert torch.allclose(fast, full, atol=1e-5)
    # A model whose landmarks are barycentric points of real triangles (not vertices).
    bary = torch.rand(model.n_landmarks, 3, generator=g)
    mixed = type(model)(**{**model.__dict__, "lmk_bary": bary / bary.sum(1, keepdim=True)})
    full = landmarks_from_vertices(mixed, flame_forward(mixed, pose))
    fast = LandmarkModel(mixed)(pose.shape[0], pose.expr, pose.rotation, pose.neck, pose.jaw, pose.eyes,
                                pose.translation)
    assert torch.allclose(fast, full, atol=1e-5)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # inside torch.func
def test_landmark_jacobian_equals_autograd(model):
    lm = LandmarkModel(model, dtype=torch.float64)
    g = torch.Generator().manual_seed(4)
    n = 3

    def r(*shape, scale=1.0):
        return scale * torch.randn(*shape, generator=g, dtype=torch.float64)

    shape, frame = r(20), torch.cat([r(n, 3, scale=0.5), r(n, 3, scale=0.2), r(n, 3), r(n, 3, scale=0.3),
                                     r(n, 6, scale=0.3), r(n, 50)], 1)

    def landmarks(v, s):
        return lm(s, v[:, 18:], v[:, :3], v[:, 3:6], v[:, 9:12], v[:, 12:18], v[:, 6:9])

    x, j_frame, j_shape = lm.jacobian(shape, frame[:, 18:], frame[:, :3], frame[:, 3:6], frame[:, 9:12],
                                      frame[:, 12:18], frame[:, 6:9])
    assert torch.allclose(x, landmarks(frame, shape))
    # Frames are independent: one forward-mode derivative per column gives that column for all frames.
    for k in range(frame.shape[1]):
        tangent = torch.zeros_like(frame)
        tangent[:, k] = 1
        column = torch.func.jvp(lambda v: landmarks(v, shape), (frame,), (tangent,))[1]
        assert torch.allclose(j_frame[..., k], column, atol=1e-9), k
    for k in range(shape.shape[0]):
        tangent = torch.zeros_like(shape)
        tangent[k] = 1
        column = torch.func.jvp(lambda s: landmarks(frame, s), (shape,), (tangent,))[1]
        assert torch.allclose(j_shape[..., k], column, atol=1e-9), k


def test_camera_conventions():
    size = 256
    cam = synthetic_camera(size)
    # A head at rest faces the camera: its left (+x) is on the image's right, up (+y) is image up,
    # and the nose (+z) is nearer the camera than the ears.
    pts = torch.tensor([[[0.05, 0, 0], [0, 0.05, 0], [0, 0, 0.05], [0, 0, 0]]], dtype=torch.float32)
    c = transform_points(torch.as_tensor(cam.w2c, dtype=torch.float32), pts)[0]
    uv = project(c, cam.fx, cam.fy, cam.cx, cam.cy)
    assert torch.allclose(uv[3], torch.tensor([128.0, 128.0]))
    assert uv[0, 0] > 128 and abs(uv[0, 1] - 128) < 1e-4
    assert uv[1, 1] < 128
    assert c[2, 2] < c[3, 2] == pytest.approx(1.1)
    # OpenGL camera-to-world: the camera sits at (0, 0, 1.1) and looks down −z (its +z is backwards).
    c2w = opencv_w2c_to_opengl_c2w(cam.w2c)
    assert np.allclose(c2w[:3, 3], [0, 0, 1.1]) and np.allclose(c2w[:3, 2], [0, 0, 1])
    assert np.allclose(c2w[:3, 1], [0, 1, 0])
    assert np.allclose(opengl_c2w_to_opencv_w2c(c2w), cam.w2c)
    # Round trip through camera.json.
    back = Camera.from_json(json.loads(json.dumps(cam.to_json())))
    assert np.allclose(back.w2c, cam.w2c) and back.fx == cam.fx and back.fixed


def test_bordered_tridiagonal_solver_matches_a_dense_solve():
    g = torch.Generator().manual_seed(0)
    n, k, m = 6, 4, 3
    jac = torch.randn(n, 8, k, generator=g, dtype=torch.float64)
    a = jac.transpose(1, 2) @ jac + 2 * torch.eye(k, dtype=torch.float64)
    upper = -torch.rand(n - 1, k, generator=g, dtype=torch.float64)
    b = 0.3 * torch.randn(n, k, m, generator=g, dtype=torch.float64)
    c = 5 * torch.eye(m, dtype=torch.float64)
    dense = torch.zeros(n * k + m, n * k + m, dtype=torch.float64)
    for t in range(n):
        dense[t * k:(t + 1) * k, t * k:(t + 1) * k] = a[t]
        dense[t * k:(t + 1) * k, n * k:] = b[t]
        dense[n * k:, t * k:(t + 1) * k] = b[t].T
        if t < n - 1:
            dense[t * k:(t + 1) * k, (t + 1) * k:(t + 2) * k] = torch.diag(upper[t])
            dense[(t + 1) * k:(t + 2) * k, t * k:(t + 1) * k] = torch.diag(upper[t])
    dense[n * k:, n * k:] = c
    rhs = torch.randn(n * k + m, generator=g, dtype=torch.float64)
    x_frame, x_shared = solve_bordered_tridiagonal(a, upper, b, c, rhs[:n * k].reshape(n, k), rhs[n * k:])
    assert torch.allclose(torch.cat([x_frame.reshape(-1), x_shared]), torch.linalg.solve(dense, rhs), atol=1e-10)


# ---------------------------------------------------------------- fitting


def test_synthetic_round_trip_recovers_parameters(model):
    size, n = 256, 120
    truth = random_params(model, n, seed=1)
    cam = synthetic_camera(size)
    clean = render(model, truth, cam)
    rng = np.random.default_rng(2)
    noisy = clean + rng.normal(scale=0.5, size=clean.shape).astype(np.float32)
    noisy[50:53] = np.nan                                         # a short face-detection dropout
    fit = fit_landmarks(model, noisy, size, TrackConfig(**FAST))
    p = fit.params
    assert {k: p[k].shape for k in KEYS} == {k: (truth[k].shape if k != "shape" else (model.n_shape,))
                                             for k in KEYS}
    assert list(np.nonzero(~fit.valid)[0]) == [50, 51, 52]

    err_noisy = reprojection_errors(model, p, fit.camera, noisy)
    err_clean = reprojection_errors(model, p, fit.camera, clean)
    # 0.5 px Gaussian noise per axis has a mean distance of 0.5·√(π/2) ≈ 0.63 px: the fit reaches it
    # against the noisy points, and lies much closer than that to the clean ones.
    assert 0.55 < np.nanmean(err_noisy) < 0.7
    assert np.nanmean(err_clean[fit.valid]) < 0.3
    assert np.nanmean(err_clean[~fit.valid]) < 1.5                # interpolated frames stay close
    jaw_err = np.degrees(np.abs(p["jaw"][fit.valid, 0] - truth["jaw"][fit.valid, 0]))
    assert jaw_err.mean() < 1.0
    assert head_rotation_error_deg(p, truth)[fit.valid].mean() < 1.0
    assert abs(fit.camera.fx / (3.0 * size) - 1) < 0.15          # weakly seen; its prior is at 4·size
    # Expression: the displacement it causes is recovered to a fraction of its size; the strongest
    # components (largest per unit, so best seen) to a fraction of their spread.
    dirs = model.exprdirs.numpy()
    shown = np.einsum("vck,nk->nvc", dirs, truth["expr"])[fit.valid]
    miss = np.einsum("vck,nk->nvc", dirs, p["expr"] - truth["expr"])[fit.valid]
    assert np.sqrt((miss**2).sum(-1).mean()) < 0.35 * np.sqrt((shown**2).sum(-1).mean())
    rms = np.sqrt(((p["expr"] - truth["expr"])[fit.valid, :5] ** 2).mean(0))
    assert (rms < 0.45).all()
    # Interpolated frames lie between their fitted neighbours.
    for key in ("jaw", "expr", "translation"):
        lo, hi = p[key][49], p[key][53]
        assert np.allclose(p[key][51], (lo + hi) / 2, atol=1e-5)


def test_gauss_newton_gradient_equals_autograd(model):
    """The hand-assembled normal equations' gradient is the objective's true gradient (every term on)."""
    from emotag_cli.track.objective import TrackingProblem

    size, n = 256, 5
    truth = random_params(model, n, seed=9)
    observed = render(model, truth, synthetic_camera(size))
    observed += np.random.default_rng(0).normal(scale=1.0, size=observed.shape).astype(np.float32)
    config = TrackConfig(depth_sigma_px=3.0, jaw_open_range=(0.05, 0.2))      # some jaws outside the range
    problem = TrackingProblem(LandmarkModel(model), observed.astype(np.float64), np.array([0, 1, 2, 4, 5]), size,
                       config, iris=np.arange(478) >= 468)
    rng = np.random.default_rng(1)
    p = problem.init_params(np.array([0.1, -0.2, 0.05]), rng.normal(scale=0.1, size=(n, 3)),
                            np.array([[0.01, -0.02, -1.1]] * n) + rng.normal(scale=0.01, size=(n, 3)))
    p.update(jaw=torch.tensor(rng.normal(0.1, 0.15, (n, 3)), dtype=torch.float32),
             eyes=torch.tensor(rng.normal(0, 0.1, (n, 6)), dtype=torch.float32),
             expr=torch.tensor(rng.normal(0, 0.5, (n, 50)), dtype=torch.float32),
             shape=torch.tensor(rng.normal(0, 0.5, 20), dtype=torch.float32))
    blocks = ["neck", "position", "jaw", "eyes", "expr", "shape", "inv_focal"]
    eq = problem.normal_equations(p, blocks)
    g_frame, g_shared = eq.g_frame, eq.g_shared
    for name in blocks:
        p[name] = p[name].clone().requires_grad_(True)
    (sum(problem.terms(p).values()) * n).backward()
    ours = dict(zip(("neck", "position", "jaw", "eyes", "expr"), g_frame.float().split([3, 3, 3, 6, 50], 1)))
    ours.update(shape=g_shared[:20].float(), inv_focal=g_shared[20].float())
    for name in blocks:
        auto = p[name].grad
        assert torch.allclose(ours[name], auto, rtol=1e-3, atol=1e-4 * float(auto.abs().max())), name


def test_a_model_with_a_subset_of_the_landmarks_is_fitted_on_those(model):
    """FLAME with a MediaPipe embedding carries ~100 of the 478 landmarks, as barycentric points."""
    keep = np.r_[0:468:4, 468:478]
    g = torch.Generator().manual_seed(2)
    bary = torch.rand(len(keep), 3, generator=g) + 0.2
    subset = type(model)(**{**model.__dict__, "lmk_faces": model.lmk_faces[keep],
                            "lmk_bary": bary / bary.sum(1, keepdim=True),
                            "meta": {"landmark_indices": keep.tolist()}})
    size, n = 256, 30
    truth = random_params(model, n, seed=10)
    observed = np.full((n, 478, 3), 7.0, np.float32)            # the other landmarks must be ignored
    observed[:, keep] = render(subset, truth, synthetic_camera(size))
    fit = fit_landmarks(subset, observed, size, TrackConfig(**FAST))
    errors = reprojection_errors(subset, fit.params, fit.camera, observed)
    assert errors.shape == (n, len(keep)) and errors.mean() < 0.25


def test_priors_keep_a_noisy_fit_plausible(model):
    size, n = 256, 40
    truth = random_params(model, n, seed=4)
    clean = render(model, truth, synthetic_camera(size))
    noisy = clean + np.random.default_rng(5).normal(scale=4.0, size=clean.shape).astype(np.float32)
    noise = dict(landmark_sigma_px=4.0, iris_sigma_px=4.0)       # the noise the fit is told about
    fit = fit_landmarks(model, noisy, size, TrackConfig(**FAST, **noise))
    free = fit_landmarks(model, noisy, size, TrackConfig(
        **FAST, **noise, expr_sigma=math.inf, shape_sigma=math.inf, jaw_open_range=(-3.0, 3.0), jaw_side_sigma=math.inf,
        eyes_sigma=math.inf, eyes_vergence_sigma=math.inf, smooth_expr=math.inf, smooth_jaw=math.inf,
        smooth_eyes=math.inf, smooth_rotation=math.inf, smooth_translation=math.inf))
    p, q = fit.params, free.params
    # With priors: coefficients stay in their usual range, the jaw in its anatomical one, both eyes
    # look the same way.
    assert np.abs(p["expr"]).max() < 4 and np.sqrt((p["expr"] ** 2).mean()) < 1.2
    assert p["jaw"][:, 0].min() > -0.06 and p["jaw"][:, 0].max() < 0.65
    assert np.degrees(np.abs(p["jaw"][:, 1:])).max() < 10
    assert np.degrees(np.abs(p["eyes"][:, :3] - p["eyes"][:, 3:])).max() < 8
    # Without them the same data gives a wilder, less accurate fit.
    def expr_err(params):
        return np.sqrt(((params["expr"] - truth["expr"]) ** 2).mean())

    assert expr_err(fit.params) < 0.8 * expr_err(free.params)
    assert np.sqrt((q["expr"] ** 2).mean()) > 1.5 * np.sqrt((p["expr"] ** 2).mean())


def test_fit_refuses_a_clip_without_faces(model):
    with pytest.raises(EmotagError, match="no frame"):
        fit_landmarks(model, np.full((5, 478, 3), np.nan, np.float32), 128, TrackConfig(**FAST))


# ---------------------------------------------------------------- the track artifact


def write_scene(path, landmarks: np.ndarray, size: int, fps: float = 25.0) -> Scene:
    """A minimal valid scene folder around the given landmarks (grey frames, empty masks)."""
    import cv2

    n = landmarks.shape[0]
    (path / "frames").mkdir(parents=True)
    (path / "masks").mkdir()
    for i in range(n):
        frame = np.full((size, size, 3), 90 + i % 50, np.uint8)
        cv2.imwrite(str(path / "frames" / f"{frame_name(i)}.jpg"), frame)
        cv2.imwrite(str(path / "masks" / f"{frame_name(i)}.png"), np.zeros((size, size), np.uint8))
    np.save(path / "landmarks.npy", landmarks.astype(np.float32))
    np.save(path / "face_found.npy", np.isfinite(landmarks).all(axis=(1, 2)))
    np.save(path / "crop.npy", np.tile(np.float32([size / 2, size / 2, size]), (n, 1)))
    np.save(path / "aus.npy", np.zeros((n, 6), np.float32))
    np.save(path / "emotion.npy", np.full((n, 7), 1 / 7, np.float32))
    np.save(path / "identity.npy", np.zeros(128, np.float32))
    write_manifest(path, new_manifest("scene", 1, {}, inputs={"video": {"sha256": "0" * 64}}, n_frames=n,
                                      fps=fps, size=size, has_audio=False))
    return Scene.open(path)


def decoded_frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_track_writes_a_complete_artifact_atomically(tmp_path, model):
    size, n = 128, 24
    truth = random_params(model, n, seed=6)
    cam = synthetic_camera(size)
    scene = write_scene(tmp_path / "scene", render(model, truth, cam), size)
    config = TrackConfig(**FAST, overlay="wireframe")
    out = track(scene.path, config, reporter=quiet(), model=model)
    assert out == scene.path / "track"
    assert sorted(p.name for p in out.iterdir()) == [
        "camera.json", "manifest.json", "overlay.mp4", "params.npz", "report.json", "transforms.json"]
    assert [p.name for p in scene.path.iterdir() if p.name.startswith(".")] == []

    t = open_track(scene.path)
    assert t.manifest["kind"] == "track" and t.manifest["schema_version"] == 1
    assert t.head_model_id == model.id and from_dict(TrackConfig, t.manifest["config"]) == config
    assert t.manifest["n_frames"] == n and len(t.manifest["inputs"]["landmarks_sha256"]) == 64
    assert t.params["expr"].shape == (n, 50) and t.params["expr"].dtype == np.float32
    assert t.params["shape"].shape == (model.n_shape,) and t.camera.fixed
    report = json.loads((out / "report.json").read_text())
    assert report["reprojection"]["mean"] < 0.5 * size / 256 * 4 and len(report["per_frame_mean"]) == n
    frames = decoded_frames(out / "overlay.mp4")
    assert len(frames) == n and frames[0].shape == (size, 2 * size, 3)
    # The wireframe is drawn where the face projects and nowhere near the image corners.
    u, v = render(model, t.params, t.camera)[0, :, :2].mean(0).astype(int)
    right = frames[0][:, size:].astype(int)
    assert right[v - 10:v + 10, u - 10:u + 10].mean() > right[:10, :10].mean() + 20
    transforms = json.loads((out / "transforms.json").read_text())
    assert len(transforms["frames"]) == n and transforms["frames"][3]["file_path"] == "../frames/000003.jpg"
    assert np.allclose(opengl_c2w_to_opencv_w2c(np.array(transforms["frames"][0]["transform_matrix"])),
                       t.camera.w2c)
    assert transforms["fl_x"] == pytest.approx(t.camera.fx)

    # An existing track is kept unless --overwrite; a failed run leaves it exactly as it was.
    with pytest.raises(EmotagError, match="--overwrite"):
        track(scene.path, config, reporter=quiet(), model=model)
    before = (out / "params.npz").read_bytes()
    broken = type(model)(**{**model.__dict__, "meta": {"landmark_indices": [999] * model.n_landmarks}})
    with pytest.raises(ValueError):
        track(scene.path, config, overwrite=True, reporter=quiet(), model=broken)
    assert (out / "params.npz").read_bytes() == before
    assert [p.name for p in scene.path.iterdir() if p.name.startswith(".")] == []
    # A scene whose landmarks changed after tracking (and whose manifest was rewritten with them)
    # refuses the stale track.
    np.save(scene.path / "landmarks.npy", np.load(scene.path / "landmarks.npy") + 1)
    write_manifest(scene.path, json.loads((scene.path / "manifest.json").read_text()))
    with pytest.raises(EmotagError, match="other landmarks"):
        open_track(scene.path)


def test_track_refuses_scene_with_too_few_faces(tmp_path, model):
    lm = render(model, random_params(model, 6, seed=7), synthetic_camera(128))
    lm[:4] = np.nan
    scene = write_scene(tmp_path / "scene", lm, 128)
    with pytest.raises(EmotagError, match="at least half"):
        track(scene.path, TrackConfig(**FAST), reporter=quiet(), model=model)
    assert not (scene.path / "track").exists()


# ---------------------------------------------------------------- VHAP import


def write_vhap_export(folder, params: dict, camera: Camera, size: int, n_expr: int = 100) -> None:
    """A folder laid out as VHAP's export_as_nerf_dataset.py writes it (OpenGL c2w, export-size
    intrinsics, per-timestep npz with leading batch axes, 100 expression components)."""
    (folder / "flame_param").mkdir(parents=True)
    s = size / camera.width
    c2w = opencv_w2c_to_opengl_c2w(camera.w2c).tolist()
    frames = []
    n = params["expr"].shape[0]
    for t in reversed(range(n)):                                  # VHAP does not promise an order
        extra = np.full(n_expr - 50, 0.1, np.float32)
        np.savez(folder / "flame_param" / f"{t:05d}.npz",
                 translation=params["translation"][t:t + 1], rotation=params["rotation"][t:t + 1],
                 neck_pose=params["neck"][t:t + 1], jaw_pose=params["jaw"][t:t + 1],
                 eyes_pose=params["eyes"][t:t + 1], shape=params["shape"],
                 expr=np.concatenate([params["expr"][t], extra])[None],
                 static_offset=np.zeros((1, 478, 3), np.float32))
        frames.append({"timestep_index": t, "timestep_index_original": t, "timestep_id": f"{t:05d}",
                       "camera_index": 0, "camera_id": "0", "cx": camera.cx * s, "cy": camera.cy * s,
                       "fl_x": camera.fx * s, "fl_y": camera.fy * s, "h": size, "w": size,
                       "camera_angle_x": 0.5, "camera_angle_y": 0.5, "transform_matrix": c2w,
                       "file_path": f"images/{t:05d}_00.png", "flame_param_path": f"flame_param/{t:05d}.npz"})
    (folder / "transforms.json").write_text(json.dumps({"frames": frames, "timestep_indices": list(range(n)),
                                                         "camera_indices": [0]}))


def test_vhap_import_round_trip(tmp_path, model):
    size, n = 128, 12
    truth = random_params(model, n, seed=8)
    truth["neck"][:, 0] = 0.05                                    # VHAP tracks a neck: it must survive
    cam = synthetic_camera(size)
    scene = write_scene(tmp_path / "scene", render(model, truth, cam), size)
    write_vhap_export(tmp_path / "vhap", truth, cam, size=512)    # tracked at 512 px

    config = TrackConfig(head_model="flame", flame_model="generic_model.pkl", overlay="none")
    out = import_vhap(tmp_path / "vhap", scene.path, config, reporter=quiet(), model=model)
    t = open_track(scene.path)
    for key in KEYS:
        assert np.allclose(t.params[key], truth[key], atol=1e-6), key
    assert np.allclose(t.params["static_offset"], 0) and t.params["static_offset"].shape == (478, 3)
    assert t.camera.fx == pytest.approx(cam.fx) and t.camera.cx == pytest.approx(cam.cx)
    assert np.allclose(t.camera.w2c, cam.w2c) and t.camera.fixed
    report = json.loads((out / "report.json").read_text())
    assert report["reprojection"]["max"] < 1e-3                  # the scene's landmarks, reproduced
    assert report["vhap"]["dropped_expr_rms"] == pytest.approx(0.1)
    assert t.manifest["source"] == "vhap-import" and from_dict(TrackConfig, t.manifest["config"]) == config

    # Our own export reads back the same way.
    export_vhap(tmp_path / "ours", t.camera, t.params, [f"../scene/frames/{frame_name(i)}.jpg" for i in range(n)])
    params, camera, _ = read_vhap_export(tmp_path / "ours", size)
    for key in KEYS:
        assert np.allclose(params[key], t.params[key], atol=1e-6), key
    assert np.allclose(camera.w2c, t.camera.w2c) and camera.fx == pytest.approx(t.camera.fx)

    # Exports that do not belong to the scene are refused with a message that says why.
    with pytest.raises(EmotagError, match="already exists"):
        import_vhap(tmp_path / "vhap", scene.path, reporter=quiet())
    write_vhap_export(tmp_path / "short", {k: v[:-1] if v.ndim == 2 else v for k, v in truth.items()}, cam, 512)
    with pytest.raises(EmotagError, match="11 timesteps"):
        import_vhap(tmp_path / "short", scene.path, overwrite=True, reporter=quiet())
    meta = json.loads((tmp_path / "vhap" / "transforms.json").read_text())
    meta["frames"][0]["camera_index"] = 1
    (tmp_path / "vhap" / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(EmotagError, match="monocular"):
        import_vhap(tmp_path / "vhap", scene.path, overwrite=True, reporter=quiet())
    with pytest.raises(EmotagError, match="not a VHAP export"):
        import_vhap(tmp_path, scene.path, overwrite=True, reporter=quiet())
    assert np.allclose(open_track(scene.path).params["neck"], truth["neck"])   # still the first import


# ---------------------------------------------------------------- real clip


@pytest.mark.real
def test_open_model_tracks_a_real_clip():
    from emotag_cli.head.open_model import load_open_model
    from emotag_cli.track.report import build_report

    from _landmarks import clip_landmarks
    from conftest import real_video

    _, landmarks = clip_landmarks(real_video("real3dportrait_May_5s.mp4"), size=256)
    model = load_open_model()
    fit = fit_landmarks(model, landmarks, 256, TrackConfig())
    report = build_report(model, fit.params, fit.camera, landmarks, fit.valid, 256, fit.seconds)
    assert report["reprojection"]["mean"] < 1.5
    # The jaw opens with the lips: its rotation follows the inner-lip distance (landmarks 13, 14).
    assert jaw_lip_correlation(fit.params["jaw"], landmarks) > 0.7
    assert fit.seconds / len(landmarks) < 0.25
