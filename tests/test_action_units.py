"""Upper-face action units: geometric estimates, OpenFace CSV import, py-feat detection."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import label
from scipy.spatial.transform import Rotation

from emotag_cli.backends import has_module
from emotag_cli.errors import EmotagError, MissingBackendError
from emotag_cli.head.canonical_face import MESH_FILE, canonical_vertices
from emotag_cli.preprocess.action_units import AU_NAMES, compute_aus, status

from conftest import ASSETS, real_video

AU = {name: i for i, name in enumerate(AU_NAMES)}

# MediaPipe FaceMesh index sets (facemesh connections), subject's right / left.
BROWS = [46, 53, 52, 65, 55, 70, 63, 105, 66, 107, 276, 283, 282, 295, 285, 300, 293, 334, 296, 336]
UPPER_LIDS = ([246, 161, 160, 159, 158, 157, 173], [466, 388, 387, 386, 385, 384, 398])
LOWER_LIDS = ([7, 163, 144, 145, 153, 154, 155], [249, 390, 373, 374, 380, 381, 382])
CORNERS = ((33, 133), (263, 362))
IRIS_CENTRES = (468, 473)


# ---------------------------------------------------------------- synthetic faces

def canonical_478() -> np.ndarray:
    """MediaPipe's canonical face (cm, y up, z to the viewer) with 10 iris points added."""
    face = np.asarray(canonical_vertices(), dtype=np.float64)
    irises = []
    for side in range(len(IRIS_CENTRES)):
        contour = face[list(CORNERS[side]) + UPPER_LIDS[side] + LOWER_LIDS[side]]
        centre = contour.mean(axis=0)
        ring = [centre + 0.55 * np.array(d) for d in ((1, 0, 0), (0, 1, 0), (-1, 0, 0), (0, -1, 0))]
        irises += [centre, *ring]
    return np.concatenate([face, np.array(irises)])


def to_pixels(shapes: np.ndarray, rng: np.random.Generator, max_deg: float = 25.0) -> np.ndarray:
    """Canonical ``[N, 478, 3]`` -> scene-pixel landmarks under a random head pose per frame."""
    rot = Rotation.from_euler("xyz", rng.uniform(-max_deg, max_deg, (len(shapes), 3)), degrees=True)
    scale = rng.uniform(8.0, 12.0, len(shapes))
    shift = np.column_stack([rng.uniform(110, 146, (len(shapes), 2)), np.zeros(len(shapes))])
    image_axes = shapes * np.array([1.0, -1.0, -1.0])
    posed = np.einsum("nij,npj->npi", rot.as_matrix(), image_axes)
    return (scale[:, None, None] * posed + shift[:, None]).astype(np.float32)


def synthetic_clip(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.random.Generator]:
    """``[n, 478, 3]`` canonical shapes with a little landmark jitter (cm)."""
    rng = np.random.default_rng(seed)
    shapes = canonical_478()[None].repeat(n, axis=0)
    shapes += rng.normal(0.0, 0.003, shapes.shape)
    return shapes, rng


def rigid_motion(landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each frame rotated (any angle), scaled and translated: a different similarity per frame."""
    rot = Rotation.random(len(landmarks), random_state=rng).as_matrix()
    scale = rng.uniform(0.5, 2.0, len(landmarks))
    shift = rng.uniform(-200, 200, (len(landmarks), 3))
    moved = scale[:, None, None] * np.einsum("nij,npj->npi", rot, landmarks.astype(np.float64))
    return (moved + shift[:, None]).astype(np.float32)


# ---------------------------------------------------------------- geometric estimates

def test_output_layout_and_range():
    shapes, rng = synthetic_clip()
    aus, info = compute_aus(to_pixels(shapes, rng))
    assert aus.shape == (40, 6) and aus.dtype == np.float32
    assert np.all((aus >= 0) & (aus <= 5))
    assert info["source"] == "landmark-geometric-v1"
    assert info["au_names"] == ["AU01", "AU04", "AU05", "AU06", "AU07", "AU45"]


def test_brow_raise_increases_au01_not_au45():
    shapes, rng = synthetic_clip()
    raised = slice(30, 40)
    shapes[raised, BROWS, 1] += 0.6  # 6 mm, about a tenth of the inter-ocular distance
    aus, _ = compute_aus(to_pixels(shapes, rng))
    assert aus[raised, AU["AU01"]].min() > 2.0
    assert aus[:30, AU["AU01"]].max() < 0.5
    for other in ("AU04", "AU05", "AU06", "AU07", "AU45"):
        assert aus[raised, AU[other]].max() < 0.5, other


def test_brow_lowering_and_gathering_is_au04():
    shapes, rng = synthetic_clip()
    frowning = slice(30, 40)
    for brow, toward_midline in ((BROWS[:10], 1.0), (BROWS[10:], -1.0)):
        shapes[frowning, brow, 1] -= 0.3
        shapes[frowning, brow, 0] += toward_midline * 0.2
    aus, _ = compute_aus(to_pixels(shapes, rng))
    assert aus[frowning, AU["AU04"]].min() > 1.5
    assert aus[frowning, AU["AU01"]].max() < 0.5


def test_eye_closure_is_au45_not_au01_or_au07():
    shapes, rng = synthetic_clip()
    closed = slice(32, 36)
    for upper, lower in zip(UPPER_LIDS, LOWER_LIDS):
        gap = shapes[closed][:, lower] - shapes[closed][:, upper]
        shapes[closed, upper] += 0.75 * gap
        shapes[closed, lower] -= 0.15 * gap  # the lower lid rises a little too, as it does in real blinks
    aus, _ = compute_aus(to_pixels(shapes, rng))
    assert aus[closed, AU["AU45"]].min() > 3.0
    assert aus[:32, AU["AU45"]].max() < 0.5
    assert aus[closed, AU["AU01"]].max() < 0.5
    assert aus[closed, AU["AU07"]].max() < 0.5


def test_lower_lid_raise_is_au07():
    shapes, rng = synthetic_clip()
    squint = slice(30, 40)
    for lower in LOWER_LIDS:
        shapes[squint, lower, 1] += 0.12  # 1.2 mm
    aus, _ = compute_aus(to_pixels(shapes, rng))
    assert aus[squint, AU["AU07"]].min() > 1.0
    assert aus[:30, AU["AU07"]].max() < 0.5


def test_head_pose_invariance():
    shapes, rng = synthetic_clip()
    shapes[30:, BROWS, 1] += 0.4
    landmarks = to_pixels(shapes, rng)
    aus, _ = compute_aus(landmarks)
    moved, _ = compute_aus(rigid_motion(landmarks, rng))
    assert aus[30:, AU["AU01"]].min() > 1.0  # the comparison covers active AUs too
    np.testing.assert_allclose(moved, aus, atol=1e-4, rtol=0)


def test_frames_without_face_are_interpolated():
    shapes, rng = synthetic_clip()
    shapes[20:, BROWS, 1] += 0.3 * np.linspace(0, 1, 20)[:, None]
    landmarks = to_pixels(shapes, rng)
    missing = np.zeros(len(landmarks), dtype=bool)
    missing[[0, 1, 25, 26, 27]] = True
    landmarks[missing] = np.nan

    aus, info = compute_aus(landmarks)
    reference, _ = compute_aus(landmarks[~missing])  # same valid frames, same baseline

    assert info["frames_without_face"] == 5
    assert np.isfinite(aus).all()
    np.testing.assert_allclose(aus[~missing], reference, atol=1e-6)
    t = np.arange(len(aus))
    for c in range(6):
        np.testing.assert_allclose(aus[missing, c], np.interp(t[missing], t[~missing], aus[~missing, c]),
                                   atol=1e-6)


def test_no_face_at_all_and_unrefined_landmarks_are_user_errors():
    with pytest.raises(EmotagError, match="no frame has a face"):
        compute_aus(np.full((5, 478, 3), np.nan, dtype=np.float32))
    with pytest.raises(EmotagError, match="478"):
        compute_aus(np.zeros((5, 468, 3), dtype=np.float32))


def test_packaged_canonical_mesh_matches_the_shared_asset():
    shared = ASSETS / MESH_FILE
    if not shared.is_file():
        pytest.skip(f"shared asset not present: {shared}")
    rows = [line.split()[1:4] for line in shared.read_text().splitlines() if line.startswith("v ")]
    np.testing.assert_array_equal(canonical_vertices(), np.asarray(rows, dtype=np.float64))


# ---------------------------------------------------------------- OpenFace CSV import

OPENFACE_AUS_R = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14", "AU15",
                  "AU17", "AU20", "AU23", "AU25", "AU26", "AU45"]
OPENFACE_AUS_C = OPENFACE_AUS_R[:-1] + ["AU28", "AU45"]


def openface_header() -> list[str]:
    """OpenFace 2 FeatureExtraction's column layout (2D/3D landmarks, gaze, pose, PDM, AUs)."""
    cols = ["frame", "face_id", "timestamp", "confidence", "success"]
    cols += [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"] + ["gaze_angle_x", "gaze_angle_y"]
    cols += [f"eye_lmk_{a}_{i}" for a in "xy" for i in range(56)]
    cols += [f"eye_lmk_{a}_{i}" for a in "XYZ" for i in range(56)]
    cols += [f"pose_{a}" for a in ("Tx", "Ty", "Tz", "Rx", "Ry", "Rz")]
    cols += [f"{a}_{i}" for a in "xy" for i in range(68)] + [f"{a}_{i}" for a in "XYZ" for i in range(68)]
    cols += ["p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty"] + [f"p_{i}" for i in range(34)]
    cols += [f"{au}_r" for au in OPENFACE_AUS_R] + [f"{au}_c" for au in OPENFACE_AUS_C]
    return cols


def write_openface_csv(path, n_rows: int, fps: float, failed=(), sep: str = ", ", drop=()) -> np.ndarray:
    """An OpenFace-style CSV; returns the ``[n_rows, 6]`` intensities it holds for our AUs (NaN if failed)."""
    rng = np.random.default_rng(1)
    header = [c for c in openface_header() if c not in drop]
    intensity = np.round(rng.uniform(0, 5, (n_rows, len(OPENFACE_AUS_R))), 2)
    lines = [sep.join(header)]
    for r in range(n_rows):
        ok = r not in failed
        row = {"frame": f"{r + 1}", "face_id": "0", "timestamp": f"{r / fps:.3f}",
               "confidence": "0.98" if ok else "0.00", "success": "1" if ok else "0"}
        for j, au in enumerate(OPENFACE_AUS_R):
            row[f"{au}_r"] = f"{intensity[r, j]:.2f}" if ok else "0.00"
        lines.append(sep.join(row.get(c, "0.000") for c in header))
    path.write_text("\n".join(lines) + "\n")
    ours = intensity[:, [OPENFACE_AUS_R.index(a) for a in AU_NAMES]]
    ours[list(failed)] = np.nan
    return ours


@pytest.mark.parametrize("sep", [", ", ","])  # OpenFace 2.0 / 2.2 separators
def test_openface_rows_are_matched_by_nearest_timestamp(tmp_path, sep):
    csv = tmp_path / "openface.csv"
    n_frames = 50  # 2 s at 25 fps; the CSV is at 30 fps
    written = write_openface_csv(csv, n_rows=60, fps=30.0, sep=sep)
    aus, info = compute_aus(None, source="openface", csv_path=csv, frames=np.zeros((n_frames, 1, 1, 3)))
    nearest = np.round(np.arange(n_frames) * 30.0 / 25.0).astype(int)  # never a tie for 30/25
    np.testing.assert_allclose(aus, written[nearest], atol=1e-6)
    assert info["source"] == "openface-csv" and info["frames_filled"] == 0


def test_openface_failed_rows_are_interpolated(tmp_path):
    csv = tmp_path / "openface.csv"
    failed = range(20, 26)
    written = write_openface_csv(csv, n_rows=50, fps=25.0, failed=failed)
    landmarks = np.zeros((50, 478, 3), dtype=np.float32)
    aus, info = compute_aus(landmarks, source="openface", csv_path=csv)
    ok = np.isfinite(written[:, 0])
    t = np.arange(50)
    np.testing.assert_allclose(aus[ok], written[ok], atol=1e-6)
    for c in range(6):
        np.testing.assert_allclose(aus[~ok, c], np.interp(t[~ok], t[ok], written[ok, c]), atol=1e-5)
    assert info["rows_failed"] == 6 and info["frames_filled"] == 6


def test_openface_csv_without_au_columns_is_a_clear_error(tmp_path):
    csv = tmp_path / "openface.csv"
    write_openface_csv(csv, n_rows=10, fps=25.0, drop=("AU45_r", "AU07_r"))
    with pytest.raises(EmotagError, match="AU07_r, AU45_r"):
        compute_aus(np.zeros((10, 478, 3)), source="openface", csv_path=csv)


def test_openface_csv_of_another_video_is_refused(tmp_path):
    csv = tmp_path / "openface.csv"
    write_openface_csv(csv, n_rows=20, fps=25.0)  # 0.8 s for a 4 s scene
    with pytest.raises(EmotagError, match="matches only"):
        compute_aus(np.zeros((100, 478, 3)), source="openface", csv_path=csv)


# ---------------------------------------------------------------- py-feat

@pytest.mark.skipif(has_module("feat"), reason="py-feat is installed here")
def test_pyfeat_missing_says_what_to_install():
    line = next(s for s in status() if s.name == "aus/py-feat")
    assert not line.available and "pip install py-feat==2.1.5" in line.hint
    with pytest.raises(MissingBackendError, match=r"pip install py-feat==2\.1\.5.*feat/resources"):
        compute_aus(None, source="pyfeat", frames=np.zeros((2, 64, 64, 3), dtype=np.uint8))


def test_status_lists_the_three_sources():
    lines = {s.name: s for s in status()}
    assert set(lines) == {"aus/landmark-geometric", "aus/openface-csv", "aus/py-feat"}
    assert lines["aus/landmark-geometric"].available


# ---------------------------------------------------------------- real clips

def _eye_aspect_ratio_2d(landmarks: np.ndarray) -> np.ndarray:
    """The classic 6-point EAR on image x, y (no pose removal), mean of both eyes: ``[N]``."""
    def d(a: int, b: int) -> np.ndarray:
        return np.linalg.norm(landmarks[:, a, :2] - landmarks[:, b, :2], axis=-1)

    def ear(p1, p2, p3, p4, p5, p6):
        return (d(p2, p6) + d(p3, p5)) / (2 * d(p1, p4))

    return (ear(33, 160, 158, 133, 153, 144) + ear(362, 385, 387, 263, 373, 380)) / 2


@pytest.fixture(scope="module")
def german():
    from _landmarks import clip_landmarks

    return clip_landmarks(real_video("mimictalk_German_20s.mp4"), size=256)[1]


@pytest.mark.real
def test_blinks_of_the_german_anchor(german):
    aus, _ = compute_aus(german)
    blink = aus[:, AU["AU45"]]
    # The two blinks, checked by eye on the frames: closed lids at 144-146 and 439-442.
    events, n = label(blink > 2.5)
    spans = [np.flatnonzero(events == k) for k in range(1, n + 1)]
    assert len(spans) == 2
    assert 142 <= spans[0][0] and spans[0][-1] <= 148 and blink[spans[0]].max() > 4.0
    assert 437 <= spans[1][0] and spans[1][-1] <= 444 and blink[spans[1]].max() > 4.0
    quiet = np.ones(len(blink), dtype=bool)
    quiet[138:152] = quiet[433:449] = False
    assert blink[quiet].max() < 1.5
    # AU45 peaks are the dips of an eye-aspect ratio measured independently on the raw image points.
    ear = _eye_aspect_ratio_2d(german)
    assert np.corrcoef(blink, -ear)[0, 1] > 0.8
    for span in spans:
        assert abs(span[np.argmax(blink[span])] - span[np.argmin(ear[span])]) <= 1


@pytest.mark.real
def test_head_pose_invariance_on_a_real_clip(german):
    rng = np.random.default_rng(3)
    aus, _ = compute_aus(german)
    moved, _ = compute_aus(rigid_motion(german, rng))
    np.testing.assert_allclose(moved, aus, atol=1e-4, rtol=0)
