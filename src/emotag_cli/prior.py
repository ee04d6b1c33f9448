"""The motion prior: what ``emotag pretrain`` writes and ``emotag adapt`` reads.

Layout of a prior folder (schema version 1)::

    manifest.json      kind "prior"; the PretrainConfig ("config") and MotionConfig ("motion") it
                       was made with; "head_model" (id, vertex/shape/expression counts, the model
                       file and its SHA-256) and "head_model_config" (how to load it again);
                       "audio" {encoder, dim, tokens}; "identity" {encoder, dim}; "size"; "scenes"
                       [{name, path, n_frames, video_sha256, landmarks_sha256, track_sha256}];
                       "steps", "world_size", "timings", "final_losses"
    grmn.pt            state dict of the motion network after the last step (absent from the shipped
                       prior, which keeps only the EMA weights, in float16: shipped_prior.py)
    grmn_ema.pt        state dict of its exponential moving average — the weights adaptation starts from
    gaussians/<name>.pt  each pretraining identity's Gaussians (GaussianParams.save; optional)
    losses.csv         the loss log (train/loss_log.py)

Weights are plain state dicts (``torch.load(..., weights_only=True)``). The prior fixes what every
scene it meets must agree on — the audio encoder and its width (the network's input), the head
model (the network predicts coefficients of *its* expression basis) and the identity encoder —
and ``Prior.check_scene`` refuses any other with a one-line message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .artifact import file_sha256, new_manifest, read_complete, write_manifest
from .errors import EmotagError
from .head.emotion_directions import check_artifact_directions
from .motion.config import MotionConfig, audio_mismatch
from .motion.grmn import GRMN
from .scene import Scene
from .track.result import Track

PRIOR_KIND = "prior"
PRIOR_VERSION = 1
FILES = ("grmn_ema.pt",)


@dataclass(frozen=True)
class SceneSignature:
    """What a scene must share with the others of a pretraining run, and with a prior."""

    audio_encoder: str
    audio_dim: int
    audio_tokens: int
    head_model: str
    head_model_sha256: str | None
    identity_encoder: str | None
    identity_dim: int
    size: int


def scene_signature(scene: Scene, track: Track) -> SceneSignature:
    if not scene.has_audio or not (scene.path / "audio_features.npy").is_file():
        raise EmotagError(f"{scene.path} has no audio features (its video had no audio): training needs speech")
    features = scene.manifest.get("features", {})
    tokens = scene.array("audio_features.npy").shape
    record = track.manifest.get("head_model", {})
    return SceneSignature(
        audio_encoder=str(features.get("audio", {}).get("encoder")), audio_dim=int(tokens[-1]),
        audio_tokens=int(tokens[1]), head_model=str(record.get("id")),
        head_model_sha256=record.get("source", {}).get("sha256"),
        identity_encoder=features.get("identity", {}).get("encoder"),
        identity_dim=int(scene.array("identity.npy").shape[0]), size=scene.size)


def mismatch(expected: SceneSignature, got: SceneSignature, check_size: bool = True) -> str | None:
    """The first way ``got`` is incompatible with ``expected``, as a phrase, or None."""
    audio = audio_mismatch((expected.audio_encoder, expected.audio_dim), (got.audio_encoder, got.audio_dim))
    if audio:
        return audio
    if got.audio_tokens != expected.audio_tokens:
        return f"{got.audio_tokens} audio tokens per frame instead of {expected.audio_tokens}"
    if got.head_model != expected.head_model:
        return f"a track made with head model {got.head_model} instead of {expected.head_model}; re-run `emotag track`"
    if None not in (got.head_model_sha256, expected.head_model_sha256) and \
            got.head_model_sha256 != expected.head_model_sha256:
        return (f"a track made with another build of head model {got.head_model} (file SHA-256 "
                f"{got.head_model_sha256[:12]}… instead of {expected.head_model_sha256[:12]}…); re-run `emotag track`")
    if (got.identity_encoder, got.identity_dim) != (expected.identity_encoder, expected.identity_dim):
        return (f"identity embeddings from {got.identity_encoder} ({got.identity_dim}-d) instead of "
                f"{expected.identity_encoder} ({expected.identity_dim}-d)")
    if check_size and got.size != expected.size:
        return f"{got.size}-pixel frames instead of {expected.size}; preprocess every scene with the same --size"
    return None


def scene_record(name: str, scene: Scene, track: Track) -> dict[str, Any]:
    """How an artifact names a scene it was trained on (paths and input hashes)."""
    return {"name": name, "path": str(scene.path.absolute()), "n_frames": scene.n_frames,
            "video_sha256": scene.manifest.get("inputs", {}).get("video", {}).get("sha256"),
            "landmarks_sha256": track.manifest.get("inputs", {}).get("landmarks_sha256"),
            "track_sha256": file_sha256(track.path / "params.npz")}


def head_model_config(track: Track) -> dict[str, Any]:
    """The track-config fields that say how to load the track's head model again."""
    from .head.registry import head_model_settings

    return head_model_settings(track.manifest.get("config", {}))


@dataclass
class Prior:
    path: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, path: Path | str) -> Prior:
        path = Path(path)
        manifest = read_complete(path, PRIOR_KIND, PRIOR_VERSION, FILES, ("motion", "head_model", "audio", "identity"),
                                 "emotag pretrain")
        prior = cls(path, manifest)
        motion = prior.motion_config()                          # refuses settings it does not know
        check_artifact_directions(motion.emotion_directions, manifest["head_model"], f"prior {path}")
        return prior

    def motion_config(self) -> MotionConfig:
        return MotionConfig.from_dict(self.manifest["motion"])

    @property
    def signature(self) -> SceneSignature:
        m = self.manifest
        return SceneSignature(m["audio"]["encoder"], int(m["audio"]["dim"]), int(m["audio"]["tokens"]),
                              m["head_model"]["id"], m["head_model"].get("source", {}).get("sha256"),
                              m["identity"]["encoder"], int(m["identity"]["dim"]), int(m["size"]))

    def check_scene(self, scene: Scene, track: Track) -> None:
        """Refuse a scene this prior cannot drive (any frame size is fine)."""
        problem = mismatch(self.signature, scene_signature(scene, track), check_size=False)
        if problem:
            raise EmotagError(f"prior {self.path} does not fit scene {scene.path}: the scene has {problem}")

    def state_dict(self, ema: bool = True) -> dict[str, torch.Tensor]:
        """The EMA (default) or last-step weights, as float32 whatever the file stores."""
        path = self.path / ("grmn_ema.pt" if ema else "grmn.pt")
        if not path.is_file():
            raise EmotagError(f"prior {self.path} holds only its EMA weights (no {path.name})")
        state = torch.load(path, map_location="cpu", weights_only=True)
        return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}

    def motion_model(self, ema: bool = True) -> GRMN:
        """The motion network with the EMA weights (default) or the last step's."""
        model = GRMN(self.motion_config())
        try:
            model.load_state_dict(self.state_dict(ema))
        except RuntimeError as exc:
            raise EmotagError(f"prior {self.path}: weights do not fit its motion config ({str(exc)[:120]}…)") from None
        return model


def write_prior(folder: Path, *, config: dict[str, Any], motion: MotionConfig, grmn_state: dict[str, torch.Tensor],
                ema_state: dict[str, torch.Tensor], signature: SceneSignature, head_model: dict[str, Any],
                head_config: dict[str, Any], scenes: list[dict[str, Any]], gaussians: dict[str, dict] | None = None,
                **fields: Any) -> None:
    """Write a prior into ``folder`` (the temporary folder of ``artifact.atomic_folder``)."""
    torch.save(grmn_state, folder / "grmn.pt")
    torch.save(ema_state, folder / "grmn_ema.pt")
    if gaussians:
        (folder / "gaussians").mkdir()
        for name, state in gaussians.items():
            torch.save(state, folder / "gaussians" / f"{name}.pt")
    write_manifest(folder, new_manifest(
        PRIOR_KIND, PRIOR_VERSION, config, motion=motion.to_dict(), head_model=head_model,
        head_model_config=head_config,
        audio={"encoder": signature.audio_encoder, "dim": signature.audio_dim, "tokens": signature.audio_tokens},
        identity={"encoder": signature.identity_encoder, "dim": signature.identity_dim}, size=signature.size,
        scenes=scenes, **fields))
