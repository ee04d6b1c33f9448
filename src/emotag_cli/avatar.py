"""The avatar: what ``emotag adapt`` writes and ``emotag render`` reads.

Layout of an avatar folder (schema version 1; T = frames of the adaptation clip, i.e. the first
``--seconds`` of the scene)::

    manifest.json     kind "avatar"; the AdaptConfig ("config") and MotionConfig ("motion");
                      "head_model" (id, counts, model file and SHA-256) and "head_model_config"
                      (how to load it again); "audio" {encoder, dim, tokens}; "identity" {encoder,
                      dim}; "size" (the resolution it was trained and renders at) and "scene_size";
                      "fps"; "scene" (path and input hashes); "prior" (path, SHA-256 of its EMA
                      weights); "train_frames" [first, end) and "eval_frames" [first, end) of the
                      scene; "n_gaussians", "sh_degree", "timings"
    gaussians.pt      the Gaussians (GaussianParams.save): local parameters and parent triangles
    grmn.pt           the adapted motion network's state dict (its config is manifest "motion")
    identity.npy      [Did] float32 identity embedding (the scene's)
    shape.npy         [S] float32 the scene's tracked shape coefficients
    camera.json       the tracked camera at the scene's size (track/camera.py; per-frame extrinsics
                      cut to the T frames); scale K by size / scene_size to render
    driving.npz       the driving defaults, float32 per frame of the adaptation clip: rotation [T, 3],
                      neck [T, 3], eyes [T, 6], translation [T, 3], aus [T, 6], emotion [T, 7], and
                      the tracked expr [T, 50] and jaw [T, 3] (for reference; rendering predicts them)
    background.png    the scene's background plate (RGB, scene size)
    mouth.npz         the mouth region (train/mouth_region.py): faces [F] bool, lip_vertices [K],
                      centre [3] (metres, canonical mesh)
    canonical.ply     the Gaussians on the canonical (neutral, unposed) mesh, standard 3DGS PLY
    losses.csv        the loss log of the adaptation

Everything is plain arrays and state dicts (``torch.load(..., weights_only=True)``,
``np.load(..., allow_pickle=False)``). ``Avatar.open`` checks the manifest and that the arrays
agree with each other; ``Avatar.check_scene`` refuses audio features of another encoder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .artifact import new_manifest, read_complete, write_manifest
from .config import TrackConfig
from .errors import EmotagError
from .gaussians.binding import triangle_frames
from .gaussians.params import GaussianParams
from .gaussians.ply import write_ply
from .head.emotion_directions import check_artifact_directions
from .head.model import HeadModel
from .motion.config import MotionConfig
from .motion.grmn import GRMN
from .scene import Scene
from .track.camera import Camera
from .train.mouth_region import MouthRegion

AVATAR_KIND = "avatar"
AVATAR_VERSION = 1
FILES = ("gaussians.pt", "grmn.pt", "identity.npy", "shape.npy", "camera.json", "driving.npz", "background.png",
         "mouth.npz")
DRIVING = {"rotation": 3, "neck": 3, "eyes": 6, "translation": 3, "aus": 6, "emotion": 7, "expr": None, "jaw": 3}


@dataclass
class Avatar:
    path: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, path: Path | str) -> Avatar:
        path = Path(path)
        manifest = read_complete(path, AVATAR_KIND, AVATAR_VERSION, FILES,
                                 ("motion", "head_model", "audio", "identity", "size", "fps", "train_frames"),
                                 "emotag adapt")
        avatar = cls(path, manifest)
        avatar.validate()
        check_artifact_directions(avatar.motion_config().emotion_directions, manifest["head_model"], f"avatar {path}")
        return avatar

    def validate(self) -> None:
        """Check that the arrays agree with each other and with the manifest."""
        motion = self.motion_config()
        identity, driving = self.identity(), self.driving()
        if identity.shape != (motion.identity_dim,):
            raise EmotagError(f"avatar {self.path}: identity.npy has shape {tuple(identity.shape)}, the motion network "
                              f"expects ({motion.identity_dim},)")
        lengths = {k: v.shape[0] for k, v in driving.items()}
        first, end = self.manifest["train_frames"]
        bad = {k: n for k, n in lengths.items() if n != end - first}
        bad.update({k: driving[k].shape for k, w in DRIVING.items()
                    if k in driving and w is not None and driving[k].shape[1:] != (w,)})
        if set(DRIVING) - set(driving) or bad:
            problem = bad or sorted(set(DRIVING) - set(driving))
            raise EmotagError(f"avatar {self.path}: driving.npz is inconsistent ({problem}); re-run `emotag adapt`")

    # -- contents ----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return int(self.manifest["size"])

    @property
    def fps(self) -> float:
        return float(self.manifest["fps"])

    def motion_config(self) -> MotionConfig:
        return MotionConfig.from_dict(self.manifest["motion"])

    def motion_model(self) -> GRMN:
        """The adapted motion network (eval mode)."""
        model = GRMN(self.motion_config())
        model.load_state_dict(torch.load(self.path / "grmn.pt", map_location="cpu", weights_only=True))
        return model.eval()

    def gaussians(self) -> GaussianParams:
        return GaussianParams.load(self.path / "gaussians.pt")

    def identity(self) -> torch.Tensor:
        return torch.from_numpy(np.load(self.path / "identity.npy", allow_pickle=False))

    def shape(self) -> torch.Tensor:
        return torch.from_numpy(np.load(self.path / "shape.npy", allow_pickle=False))

    def camera(self) -> Camera:
        return Camera.load(self.path / "camera.json")

    def K(self) -> torch.Tensor:
        """[3, 3] intrinsics at the avatar's render size."""
        s = self.size / float(self.manifest.get("scene_size", self.size))
        cam = self.camera()
        return torch.tensor([[cam.fx * s, 0, cam.cx * s], [0, cam.fy * s, cam.cy * s], [0, 0, 1]], dtype=torch.float32)

    def driving(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "driving.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def mouth(self) -> MouthRegion:
        with np.load(self.path / "mouth.npz", allow_pickle=False) as z:
            return MouthRegion.from_state_dict({k: torch.from_numpy(z[k]) for k in z.files})

    def background(self) -> np.ndarray:
        """RGB uint8 [S, S, 3] at the scene's size."""
        import cv2

        return cv2.imread(str(self.path / "background.png"))[:, :, ::-1].copy()

    def head_model(self) -> HeadModel:
        """The head model the avatar was made with (refused if its file changed since)."""
        from .artifact import file_sha256
        from .config import from_dict
        from .track.pipeline import load_head_model

        settings = {k: v for k, v in self.manifest.get("head_model_config", {}).items() if v is not None}
        model = load_head_model(from_dict(TrackConfig, settings))
        record = self.manifest["head_model"]
        if model.id != record["id"]:
            raise EmotagError(f"avatar {self.path} was made with head model {record['id']}, not {model.id}")
        sha = record.get("source", {}).get("sha256")
        source = model.meta.get("source")
        if sha and source and Path(source).is_file() and file_sha256(Path(source)) != sha:
            raise EmotagError(f"avatar {self.path} was made with another build of head model {model.id} "
                              f"({source} changed since); re-run `emotag adapt`")
        return model

    def check_scene(self, scene: Scene) -> None:
        """Refuse driving audio features made by another encoder than the avatar's."""
        audio = self.manifest["audio"]
        encoder = scene.manifest.get("features", {}).get("audio", {}).get("encoder")
        if not scene.has_audio:
            raise EmotagError(f"{scene.path} has no audio features to drive the avatar with")
        dim = int(scene.array("audio_features.npy").shape[-1])
        if (encoder, dim) != (audio["encoder"], int(audio["dim"])):
            raise EmotagError(f"avatar {self.path} expects audio features from {audio['encoder']} ({audio['dim']}-d), "
                              f"but {scene.path} has {encoder} ({dim}-d); re-run `emotag preprocess` with that encoder")


def write_avatar(folder: Path, *, gaussians: GaussianParams, grmn_state: dict[str, torch.Tensor],
                 motion: MotionConfig, embedding: np.ndarray, shape: np.ndarray, camera: Camera,
                 driving: dict[str, np.ndarray], background: Path, mouth: MouthRegion, canonical_vertices: torch.Tensor,
                 faces: torch.Tensor, config: dict[str, Any], **fields: Any) -> None:
    """Write an avatar into ``folder`` (the temporary folder of ``artifact.atomic_folder``)."""
    gaussians.save(folder / "gaussians.pt")
    torch.save({k: v.detach().cpu() for k, v in grmn_state.items()}, folder / "grmn.pt")
    np.save(folder / "identity.npy", np.asarray(embedding, np.float32))
    np.save(folder / "shape.npy", np.asarray(shape, np.float32))
    camera.save(folder / "camera.json")
    np.savez(folder / "driving.npz", **{k: np.asarray(v, np.float32) for k, v in driving.items()})
    shutil.copyfile(background, folder / "background.png")
    np.savez(folder / "mouth.npz", **{k: v.numpy() for k, v in mouth.state_dict().items()})
    with torch.no_grad():
        device = gaussians.binding.device
        frames = triangle_frames(canonical_vertices.to(device), faces.to(device))
        means, quats, scales = (x[0] for x in gaussians.world(frames))
        write_ply(folder / "canonical.ply", means, quats, scales, gaussians.opacities(), gaussians.sh())
    write_manifest(folder, new_manifest(AVATAR_KIND, AVATAR_VERSION, config, motion=motion.to_dict(),
                                        n_gaussians=gaussians.n, sh_degree=gaussians.sh_degree, **fields))
