"""A tracked scene as training data: images, masks, meshes and cameras per frame, as tensors.

Everything is prepared at the training resolution ``size`` (the scene's, or smaller): the camera
intrinsics are scaled with it. Per-frame tensors are built on first use and kept in a
least-recently-used cache of bounded size (``cache_mb``), so a loop over a few hundred frames at
training resolution decodes each JPEG once, while a corpus of long clips at full size does not
keep every frame in memory (a 512 px frame's tensors take 7.3 MB).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..head.lbs import HeadPose, flame_forward
from ..head.model import HeadModel
from ..head.registry import head_model_of
from ..raster.mesh import render_depth_normals
from ..scene import MASK_HEAD, Scene
from ..track.result import Track, open_track


@dataclass
class FrameData:
    """One frame at the training resolution S.

    image [3, S, S] float in [0, 1]; head [1, S, S] float {0, 1}; backdrop [3, S, S]: the frame
    with the head replaced by the background plate (what a rendered head is composited over);
    verts [V, 3] the tracked mesh (world, metres).
    """

    image: Tensor
    head: Tensor
    backdrop: Tensor
    verts: Tensor


class TrackedClip:
    """Frames of a tracked scene, with the head model and camera that explain them."""

    def __init__(self, scene_path: Path | str, size: int | None = None, model: HeadModel | None = None,
                 cache_mb: float = 1024.0):
        self.scene = Scene.open(scene_path)
        self.track: Track = open_track(self.scene.path)
        if model is None:
            model = head_model_of(self.track.manifest["config"])
        self.model = model
        self.size = size or self.scene.size
        s = self.size / self.scene.size
        cam = self.track.camera
        self.K = torch.tensor([[cam.fx * s, 0, cam.cx * s], [0, cam.fy * s, cam.cy * s], [0, 0, 1]],
                              dtype=torch.float32)
        self._plate = self._load_plate()
        self.cache_bytes = int(cache_mb * 2**20)
        self._cache: OrderedDict[tuple[str, int], tuple] = OrderedDict()
        self._cached_bytes = 0

    @property
    def n_frames(self) -> int:
        return self.scene.n_frames

    def w2c(self, i: int) -> Tensor:
        return torch.tensor(self.track.camera.w2c_at(i), dtype=torch.float32)

    def pose(self, idx: list[int] | np.ndarray, expr: Tensor | None = None, jaw: Tensor | None = None) -> HeadPose:
        """Tracked parameters of frames ``idx`` (expression and jaw replaceable, e.g. predicted)."""
        p = self.track.params
        idx = np.asarray(idx)

        def t(key: str) -> Tensor:
            return torch.from_numpy(np.asarray(p[key][idx], dtype=np.float32))

        shape = torch.from_numpy(np.asarray(p["shape"], np.float32))[None].expand(len(idx), -1)
        return HeadPose(shape, t("expr") if expr is None else expr, t("rotation"), t("neck"),
                        t("jaw") if jaw is None else jaw, t("eyes"), t("translation"))

    def vertices(self, idx) -> Tensor:
        """[B, V, 3] tracked meshes (no gradient)."""
        with torch.no_grad():
            verts = flame_forward(self.model, self.pose(idx))
        if "static_offset" in self.track.params:
            verts = verts + torch.from_numpy(np.asarray(self.track.params["static_offset"], np.float32))
        return verts

    def canonical_vertices(self) -> Tensor:
        """[V, 3] the scene's shape in the rest pose, neutral expression."""
        pose = self.pose([0])
        zero = HeadPose(pose.shape, torch.zeros_like(pose.expr), *(torch.zeros_like(x) for x in (
            pose.rotation, pose.neck, pose.jaw, pose.eyes, pose.translation)))
        with torch.no_grad():
            return flame_forward(self.model, zero)[0]

    def _load_plate(self) -> Tensor:
        import cv2

        plate = cv2.imread(str(self.scene.path / "background.png"))[:, :, ::-1]
        return self._to_tensor(plate)

    def _to_tensor(self, rgb: np.ndarray) -> Tensor:
        import cv2

        if rgb.shape[0] != self.size:
            rgb = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255

    def _cached(self, key: tuple[str, int], build) -> tuple:
        """``build()`` (a tuple of tensors) for ``key``, from the LRU cache when there."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        value = build()
        size = sum(t.element_size() * t.nelement() for t in value)
        self._cache[key] = value
        self._cached_bytes += size
        while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= sum(t.element_size() * t.nelement() for t in old)
        return value

    def frame(self, i: int) -> FrameData:
        return FrameData(*self._cached(("frame", i), lambda: self._build_frame(i)))

    def _build_frame(self, i: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        import cv2

        image = self._to_tensor(self.scene.frame(i))
        labels = self.scene.mask(i)
        if labels.shape[0] != self.size:
            labels = cv2.resize(labels, (self.size, self.size), interpolation=cv2.INTER_NEAREST)
        head = torch.from_numpy(labels == MASK_HEAD).float()[None]
        backdrop = image * (1 - head) + self._plate * head
        return image, head, backdrop, self.vertices([i])[0]

    def mesh_geometry(self, i: int) -> tuple[Tensor, Tensor]:
        """Depth [1, S, S] (camera z, 0 off the mesh) and normals [3, S, S] of the tracked mesh,
        the targets of the geometric loss (docs/reference/motion-network.md, with the mesh standing in for Sapiens)."""
        def build() -> tuple[Tensor, Tensor]:
            verts = self.frame(i).verts.double().numpy()
            w2c = self.w2c(i).double().numpy()
            cam = verts @ w2c[:3, :3].T + w2c[:3, 3]
            depth, normals, _ = render_depth_normals(cam, self.model.faces.numpy(), self.K.double().numpy(),
                                                     self.size, self.size)
            return torch.from_numpy(depth)[None], torch.from_numpy(normals).permute(2, 0, 1)

        return self._cached(("geometry", i), build)
