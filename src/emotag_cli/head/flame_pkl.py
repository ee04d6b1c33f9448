"""FLAME from the user's own files: ``generic_model.pkl`` (FLAME 2020) or ``flame2023_Open.pkl``.

FLAME cannot be shipped: users register at https://flame.is.tue.mpg.de and download it (FLAME 2023
Open is CC-BY-4.0). The model pickle is read with ``restricted_pickle`` (numpy, scipy sparse and
chumpy arrays only, never chumpy itself). Its keys, as FLAME lays them out:

    v_template    [5023, 3]        metres
    shapedirs     [5023, 3, 400]   300 identity + 100 expression components (split at ``n_shape``)
    posedirs      [5023, 3, 36]    pose correctives; FLAME evaluates them as reshape(-1, 36).T
    J_regressor   [5, 5023]        scipy csc matrix in FLAME 2020
    kintree_table [2, 5]           row 0 holds the parents (the root's is 2**32 - 1)
    weights       [5023, 5]        skinning weights
    f             [9976, 3]        triangles

Landmarks come from a separate embedding file the user supplies (see ``read_landmark_embedding``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import torch

from ..backends import BackendStatus, cache_dir
from ..errors import EmotagError, MissingBackendError
from .model import JOINTS, HeadModel
from .restricted_pickle import load_restricted, to_numpy

MODEL_NAMES = ("flame2023_Open.pkl", "generic_model.pkl", "flame2023.pkl")
EMBEDDING_NAMES = ("mediapipe_landmark_embedding.npz", "landmark_embedding.npy", "flame_static_embedding.pkl")
N_SHAPE = 300

# MediaPipe FaceMesh points closest to the 68 iBUG landmarks (jaw 0-16, brows 17-26, nose 27-35,
# eyes 36-47, outer lips 48-59, inner lips 60-67). The iBUG jaw line is a silhouette, so its
# MediaPipe counterparts on the face oval only approximate it.
MEDIAPIPE_FOR_IBUG68 = (
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
)


def flame_dir() -> Path:
    """Where emotag looks for FLAME files: ``$EMOTAG_HOME/flame`` or ``~/.cache/emotag/flame``."""
    return cache_dir() / "flame"


def _missing(what: str, looked: str) -> MissingBackendError:
    return MissingBackendError(
        f"{what} not found ({looked}). Register at https://flame.is.tue.mpg.de, download FLAME 2020 "
        f"(generic_model.pkl) or FLAME 2023 Open (flame2023_Open.pkl, CC-BY-4.0) and put it in "
        f"{flame_dir()} or pass --flame-model PATH; or use the built-in open model (--head-model open)"
    )


def find_flame_model(path: str | Path | None = None) -> Path:
    """The FLAME pickle: ``path`` if given (must exist), else the first of MODEL_NAMES in flame_dir()."""
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise _missing("FLAME model", str(path))
        return path
    for name in MODEL_NAMES:
        if (flame_dir() / name).is_file():
            return flame_dir() / name
    raise _missing("FLAME model", f"looked for {', '.join(MODEL_NAMES)} in {flame_dir()}")


def find_landmark_embedding(path: str | Path | None = None, model_path: Path | None = None) -> Path:
    """The embedding file: ``path`` if given, else EMBEDDING_NAMES beside the model or in flame_dir()."""
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise MissingBackendError(f"FLAME landmark embedding not found: {path}")
        return path
    dirs = [d for d in (model_path.parent if model_path else None, flame_dir()) if d is not None]
    for d in dirs:
        for name in EMBEDDING_NAMES:
            if (d / name).is_file():
                return d / name
    raise MissingBackendError(
        f"no FLAME landmark embedding in {', '.join(map(str, dirs))}: put one of {', '.join(EMBEDDING_NAMES)} "
        "there (a MediaPipe-to-FLAME embedding with lmk_face_idx, lmk_b_coords, landmark_indices, or FLAME's "
        "68-point landmark_embedding.npy), or pass --flame-embedding PATH"
    )


def read_flame_pickle(path: str | Path) -> dict[str, Any]:
    """The model pickle as a dict of numpy arrays (J_regressor may stay a scipy sparse matrix)."""
    with open(path, "rb") as fp:
        data = to_numpy(load_restricted(fp))
    if not isinstance(data, dict):
        raise EmotagError(f"{path}: not a FLAME model (expected a dict, found {type(data).__name__})")
    missing = [k for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights", "f")
               if k not in data]
    if missing:
        raise EmotagError(f"{path}: not a FLAME model (missing {', '.join(missing)})")
    return data


def _read_npy_with_objects(path: Path) -> Any:
    """A ``.npy`` whose payload is a pickled object array (FLAME's landmark_embedding.npy)."""
    fmt = np.lib.format
    with open(path, "rb") as fp:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise EmotagError(f"{path}: unsupported .npy version {version}")
        if not dtype.hasobject:
            raise EmotagError(f"{path}: expected an object array")
        array = to_numpy(load_restricted(fp))
    return array.item() if isinstance(array, np.ndarray) and array.shape == () else array


def _read_mapping(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if suffix == ".npy":
        try:
            value = np.load(path, allow_pickle=False)
        except ValueError:  # object arrays need pickle: read them through the allow-list
            value = _read_npy_with_objects(path)
    else:
        with open(path, "rb") as fp:
            value = to_numpy(load_restricted(fp))
    if not isinstance(value, dict):
        raise EmotagError(f"{path}: expected a dict of landmark-embedding arrays")
    return value


def read_landmark_embedding(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[int], str]:
    """(lmk_faces [L] int64, lmk_bary [L, 3] float32, MediaPipe index of each landmark [L], scheme).

    Accepted layouts: ``lmk_face_idx`` + ``lmk_b_coords`` (+ ``landmark_indices`` for a
    MediaPipe-to-FLAME embedding); FLAME's ``landmark_embedding.npy`` with ``full_lmk_faces_idx`` /
    ``full_lmk_bary_coords`` (68 iBUG points) or ``static_lmk_*`` (51: the 68 without the jaw line).
    iBUG embeddings are paired with MediaPipe points through MEDIAPIPE_FOR_IBUG68.
    """
    path = Path(path)
    data = _read_mapping(path)
    for faces_key, bary_key in (("lmk_face_idx", "lmk_b_coords"), ("full_lmk_faces_idx", "full_lmk_bary_coords"),
                                ("static_lmk_faces_idx", "static_lmk_bary_coords")):
        if faces_key in data and bary_key in data:
            break
    else:
        raise EmotagError(f"{path}: no lmk_face_idx/lmk_b_coords (or FLAME's *_lmk_faces_idx) arrays")
    faces = np.asarray(data[faces_key]).astype(np.int64).reshape(-1)
    bary = np.asarray(data[bary_key], dtype=np.float32).reshape(-1, 3)
    if len(faces) != len(bary):
        raise EmotagError(f"{path}: {len(faces)} landmark faces but {len(bary)} barycentric rows")
    if "landmark_indices" in data:
        indices = [int(i) for i in np.asarray(data["landmark_indices"]).reshape(-1)]
        scheme = "mediapipe"
    elif len(faces) == 68:
        indices, scheme = list(MEDIAPIPE_FOR_IBUG68), "ibug68"
    elif len(faces) == 51:
        indices, scheme = list(MEDIAPIPE_FOR_IBUG68[17:]), "ibug51"
    else:
        raise EmotagError(f"{path}: {len(faces)} landmarks without landmark_indices (which MediaPipe points?)")
    if len(indices) != len(faces):
        raise EmotagError(f"{path}: {len(indices)} landmark_indices for {len(faces)} landmarks")
    return faces, bary, indices, scheme


def _dense(x: Any) -> np.ndarray:
    return x.toarray() if scipy.sparse.issparse(x) else np.asarray(x)


def load_flame(pkl_path: str | Path | None = None, embedding_path: str | Path | None = None,
               n_shape: int = N_SHAPE) -> HeadModel:
    """A HeadModel from a FLAME pickle and a landmark embedding (both searched for when None).

    shapedirs' first ``n_shape`` components are identity, the rest expression (FLAME 2020 and
    2023: 300 + 100).
    """
    model_path = find_flame_model(pkl_path)
    emb_path = find_landmark_embedding(embedding_path, model_path)
    d = read_flame_pickle(model_path)
    v_template = np.asarray(d["v_template"], dtype=np.float32)
    v = v_template.shape[0]
    dirs = np.asarray(d["shapedirs"], dtype=np.float32)
    if dirs.ndim != 3 or dirs.shape[:2] != (v, 3) or dirs.shape[2] <= n_shape:
        raise EmotagError(f"{model_path}: shapedirs has shape {dirs.shape}, expected ({v}, 3, >{n_shape})")
    posedirs = np.asarray(d["posedirs"], dtype=np.float32)
    posedirs = posedirs.reshape(-1, posedirs.shape[-1]).T                                # [36, V*3]
    parents = np.asarray(d["kintree_table"])[0].astype(np.int64)
    parents[0] = -1  # stored as an unsigned 2**32 - 1
    faces, bary, indices, scheme = read_landmark_embedding(emb_path)

    model = HeadModel(
        id=f"flame:{model_path.stem}",
        v_template=torch.from_numpy(v_template),
        shapedirs=torch.from_numpy(np.ascontiguousarray(dirs[:, :, :n_shape])),
        exprdirs=torch.from_numpy(np.ascontiguousarray(dirs[:, :, n_shape:])),
        posedirs=torch.from_numpy(np.ascontiguousarray(posedirs)),
        J_regressor=torch.from_numpy(_dense(d["J_regressor"]).astype(np.float32)),
        parents=torch.from_numpy(parents),
        lbs_weights=torch.from_numpy(np.asarray(d["weights"], dtype=np.float32)),
        faces=torch.from_numpy(np.asarray(d["f"]).astype(np.int64)),
        lmk_faces=torch.from_numpy(faces),
        lmk_bary=torch.from_numpy(bary),
        meta={
            "source": str(model_path),
            "embedding": str(emb_path),
            "landmark_indices": indices,
            "landmark_scheme": scheme,
            "licence": "FLAME licence of the user's download (FLAME 2023 Open: CC-BY-4.0)",
            "joints": list(JOINTS),
        },
    )
    try:
        model.validate()
    except ValueError as exc:
        raise EmotagError(f"{model_path}: {exc}") from None
    return model


def status() -> list[BackendStatus]:
    """``emotag doctor`` lines for the FLAME model and its landmark embedding."""
    lines = []
    try:
        model = find_flame_model()
        lines.append(BackendStatus("head/flame", True, str(model)))
    except MissingBackendError as exc:
        model = None
        lines.append(BackendStatus("head/flame", False, str(flame_dir()), str(exc)))
    try:
        lines.append(BackendStatus("head/flame-embedding", True, str(find_landmark_embedding(None, model))))
    except MissingBackendError as exc:
        lines.append(BackendStatus("head/flame-embedding", False, str(flame_dir()), str(exc)))
    return lines
