"""The tracking objective over a clip and its Gauss-Newton linearisation (see track/fit.py).

F = Σ_frames ½|landmark residuals / σ|² (+ relative depth) + per-frame priors + temporal smoothness
  + N · (shape and focal priors).

Parameters, per valid frame (rows) unless noted: rotation (global, fixed per clip), neck, jaw,
eyes, expr, shape (shared), position (x/D, y/D, log(f/D) of the head's translation, D its distance)
and inv_focal (κ = size/f, shared). Why position and κ rather than translation and f: see
``TrackingProblem.init_params``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..camera import FLIP, project
from ..config import TrackConfig
from . import priors
from .landmark_model import FRAME_COLUMNS, N_POSE_COLUMNS, LandmarkModel

REFERENCE_SIZE = 256          # pixel sigmas in TrackConfig are given at this frame size
CHUNK = 48                    # frames linearised at once (bounds memory)
JAW_WALL_SIGMA = 0.02         # radians: softness of the jaw-opening range's walls
SMOOTHED = ("neck", "position", "expr", "jaw", "eyes")
# Per-frame blocks and the Jacobian columns (LandmarkModel's FRAME_COLUMNS) they own.
FRAME_BLOCKS = {"neck": "neck", "position": "translation", "jaw": "jaw", "eyes": "eyes", "expr": "expr"}


@dataclass
class NormalEquations:
    """Gradient and Gauss-Newton Hessian of F: a [N, K, K] per-frame blocks, upper [N-1, K] the
    diagonal coupling of frame t to t+1, b [N, K, G] per-frame × shared, c [G, G] shared × shared,
    g_frame [N, K] and g_shared [G] the gradient (float64)."""

    a: torch.Tensor
    upper: torch.Tensor
    b: torch.Tensor
    c: torch.Tensor
    g_frame: torch.Tensor
    g_shared: torch.Tensor

    @classmethod
    def zeros(cls, n: int, k: int, g: int) -> NormalEquations:
        def z(*shape):
            return torch.zeros(*shape, dtype=torch.float64)

        return cls(z(n, k, k), z(max(n - 1, 0), k), z(n, k, g), z(g, g), z(n, k), z(g))


class TrackingProblem:
    """The objective over the clip's frames that have landmarks (its rows), and its Gauss-Newton
    linearisation. Parameters live in a dict of tensors (see ``init_params``)."""

    def __init__(self, lm: LandmarkModel, target: np.ndarray, frames: np.ndarray, size: int,
                 config: TrackConfig, iris: np.ndarray):
        self.lm, self.size, self.config = lm, size, config
        self.n = target.shape[0]
        self.xy = torch.tensor(target[..., :2], dtype=torch.float32)
        z = torch.tensor(target[..., 2], dtype=torch.float32)
        self.z = z - z.mean(1, keepdim=True)
        self.gaps = torch.tensor(np.diff(frames), dtype=torch.float32)
        px = size / REFERENCE_SIZE
        sigma = np.where(iris, config.iris_sigma_px, config.landmark_sigma_px) * px
        self.inv_sigma = torch.tensor(1 / sigma, dtype=torch.float32)                # [L]
        self.use_depth = config.depth_sigma_px is not None
        self.inv_sigma_z = 1 / (config.depth_sigma_px * px) if self.use_depth else 0.0
        self.log_focal_prior = math.log(config.focal * size)
        self.centre = size / 2
        self.flip = torch.tensor(FLIP, dtype=torch.float32)
        self.n_cols = N_POSE_COLUMNS + lm.n_expr
        self.smooth_sigma = {"neck": config.smooth_rotation, "position": config.smooth_translation,
                             "expr": config.smooth_expr, "jaw": config.smooth_jaw, "eyes": config.smooth_eyes}

    def init_params(self, global_rotation: np.ndarray, neck: np.ndarray, translation: np.ndarray
                    ) -> dict[str, torch.Tensor]:
        n = neck.shape[0]

        def z(*shape):
            return torch.zeros(*shape, dtype=torch.float32)

        # The head's position as (x/D, y/D, log(f/D)), D its distance along the camera axis: image
        # offset and image scale. With the focal as κ = size/f, the perspective left once the image
        # scale is fixed (the only thing that tells f from D) is nearly linear in κ, so LM walks the
        # shallow focal valley in a few steps instead of creeping along a curved one.
        distance = np.maximum(-translation[:, 2], 1e-3)
        f0 = math.exp(self.log_focal_prior)
        position = np.stack([translation[:, 0] / distance, translation[:, 1] / distance, np.log(f0 / distance)], 1)
        # Translation smoothness is given in metres: as a relative change at the clip's distance.
        self.smooth_sigma["position"] = self.config.smooth_translation / float(np.median(distance))
        return {
            "rotation": torch.tensor(np.tile(global_rotation, (n, 1)), dtype=torch.float32),
            "neck": torch.tensor(neck, dtype=torch.float32),
            "position": torch.tensor(position, dtype=torch.float32),
            "jaw": z(n, 3), "eyes": z(n, 6), "expr": z(n, self.lm.n_expr),
            "shape": z(self.lm.n_shape), "inv_focal": torch.tensor(self.size / f0, dtype=torch.float32),
        }

    # ------------------------------------------------------------------ objective

    def focal(self, inv_focal: torch.Tensor) -> float:
        return self.size / float(inv_focal)

    def translation(self, position: torch.Tensor, inv_focal: torch.Tensor) -> torch.Tensor:
        """(x/D, y/D, log(f/D)) [B, 3] → world translation [B, 3] (the camera looks down −z)."""
        d = (self.size / inv_focal) * torch.exp(-position[:, 2:3])
        return torch.cat([position[:, :2] * d, -d], 1)

    def _landmarks(self, p, rows=slice(None)):
        return self.lm(p["shape"], p["expr"][rows], p["rotation"][rows], p["neck"][rows], p["jaw"][rows],
                       p["eyes"][rows], self.translation(p["position"][rows], p["inv_focal"]))

    def terms(self, p: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The objective's terms, each averaged over frames (shared priors counted once)."""
        c = self.config
        cam = self._landmarks(p) @ self.flip.T
        focal = self.size / p["inv_focal"]
        uv = project(cam, focal, focal, self.centre, self.centre)
        res = (uv - self.xy) * self.inv_sigma[:, None]
        out = {"landmarks": 0.5 * res.square().sum((1, 2)).mean()}
        if self.use_depth:
            out["depth"] = 0.5 * (self._depth_residual(cam, focal) * self.inv_sigma_z).square().sum(1).mean()
        out["shape"] = priors.gaussian(p["shape"], c.shape_sigma)
        out["expr"] = priors.gaussian(p["expr"], c.expr_sigma)
        out["jaw"] = priors.jaw_prior(p["jaw"], tuple(c.jaw_open_range), JAW_WALL_SIGMA, c.jaw_side_sigma)
        out["eyes"] = priors.eyes_prior(p["eyes"], c.eyes_sigma, c.eyes_vergence_sigma)
        if math.isfinite(c.focal_sigma):
            out["focal"] = 0.5 * ((torch.log(focal) - self.log_focal_prior) / c.focal_sigma) ** 2
        for name in SMOOTHED:
            out[f"smooth_{name}"] = priors.smoothness(p[name], self.smooth_sigma[name], self.gaps)
        return out

    def objective(self, p: dict[str, torch.Tensor]) -> float:
        """F: the terms' sum times the number of frames (infinite for a non-positive focal)."""
        if float(p["inv_focal"]) <= 0:
            return math.inf
        with torch.no_grad():
            return float(sum(self.terms(p).values())) * self.n

    def _depth_residual(self, cam: torch.Tensor, focal) -> torch.Tensor:
        """MediaPipe's z is depth relative to the face in pixel-like units: compare like with like."""
        depth = cam[..., 2]
        mean = depth.mean(1, keepdim=True)
        return (depth - mean) * focal / mean - self.z

    # ------------------------------------------------------------------ Gauss-Newton pieces

    def _columns(self, blocks: list[str]) -> list[int]:
        n_cols = self.n_cols
        cols = []
        for name, key in FRAME_BLOCKS.items():
            if name in blocks:
                cols += list(range(n_cols))[FRAME_COLUMNS[key]]
        return cols

    def normal_equations(self, p: dict[str, torch.Tensor], blocks: list[str]) -> NormalEquations:
        """Gradient and Gauss-Newton Hessian of F in the active ``blocks`` (float64)."""
        cols = self._columns(blocks)
        n_s = self.lm.n_shape if "shape" in blocks else 0
        eq = NormalEquations.zeros(self.n, len(cols), n_s + int("inv_focal" in blocks))
        self._add_data(eq, p, cols, n_s, "inv_focal" in blocks)
        self._add_frame_priors(eq, p, blocks, cols)
        self._add_smoothness(eq, p, blocks, cols)
        self._add_shared_priors(eq, p, n_s, "inv_focal" in blocks)
        return eq

    def _add_data(self, eq: NormalEquations, p: dict[str, torch.Tensor], cols: list[int], n_s: int,
                  use_focal: bool) -> None:
        """Landmark (and depth) residuals, linearised frame chunk by frame chunk."""
        k = len(cols)
        kappa = p["inv_focal"]
        focal = self.size / kappa
        for lo in range(0, self.n, CHUNK):
            rows = slice(lo, min(self.n, lo + CHUNK))
            position = p["position"][rows]
            translation = self.translation(position, kappa)
            x, j_frame, j_shape = self.lm.jacobian(
                p["shape"], p["expr"][rows], p["rotation"][rows], p["neck"][rows], p["jaw"][rows],
                p["eyes"][rows], translation)
            # Chain rule to the position: dt/d(x/D, y/D, log(f/D)) = [[D, 0, −t_x], [0, D, −t_y], [0, 0, −t_z]];
            # and to κ through the distance, dt/dκ = −t/κ (dx/dt is the identity for every landmark).
            d = -translation[:, 2]
            dt = torch.zeros(d.shape[0], 3, 3)
            dt[:, 0, 0] = dt[:, 1, 1] = d
            dt[:, :, 2] = -translation
            tcols = FRAME_COLUMNS["translation"]
            j_frame[..., tcols] = torch.einsum("blxi,bij->blxj", j_frame[..., tcols], dt)
            parts = [j_frame[..., cols], j_shape[..., :n_s]]
            if use_focal:
                parts.append((-translation / kappa)[:, None, :, None].expand(-1, x.shape[1], -1, -1))
            j = torch.cat(parts, -1)                                                # [b, L, 3, K+G]
            cam = x @ self.flip.T
            j = j * self.flip.diagonal()[:, None]                                   # camera frame (FLIP is diagonal)
            depth = cam[..., 2:3].clamp_min(1e-3)
            xy = cam[..., :2] / depth                                               # [b, L, 2]
            # d(u, v) = f/Z (dX_c, dY_c) − f (X, Y)/Z² dZ_c
            j_uv = focal / depth[..., None] * (j[:, :, :2] - xy[..., None] * j[:, :, 2:3])
            r_uv = (xy * focal + self.centre - self.xy[rows]) * self.inv_sigma[:, None]
            j_uv = j_uv * self.inv_sigma[None, :, None, None]
            rs, js = [r_uv.reshape(r_uv.shape[0], -1)], [j_uv.reshape(j_uv.shape[0], -1, j.shape[-1])]
            if use_focal:
                # ... plus κ's direct effect through f = size/κ: du/dκ = −(u − c)/κ.
                direct = (r_uv / self.inv_sigma[:, None] + self.xy[rows] - self.centre) * self.inv_sigma[:, None]
                js[0][..., -1] -= direct.reshape(r_uv.shape[0], -1) / kappa
            if self.use_depth:
                z_all = cam[..., 2]
                mean = z_all.mean(1, keepdim=True)
                jz = j[:, :, 2]                                                     # [b, L, K+G]
                j_rel = focal / mean[..., None] * (jz - (z_all / mean)[..., None] * jz.mean(1, keepdim=True))
                r_rel = (z_all - mean) * focal / mean - self.z[rows]
                if use_focal:
                    j_rel[..., -1] -= (z_all - mean) * focal / mean / kappa
                rs.append(r_rel * self.inv_sigma_z)
                js.append(j_rel * self.inv_sigma_z)
            r = torch.cat(rs, 1)                                                    # [b, R]
            jac = torch.cat(js, 1)                                                  # [b, R, K+G]
            jt = jac.transpose(1, 2)
            h = (jt @ jac).double()                                # float32 products, summed in float64
            grad = (jt @ r[..., None])[..., 0].double()
            eq.a[rows], eq.b[rows], eq.g_frame[rows] = h[:, :k, :k], h[:, :k, k:], grad[:, :k]
            eq.c += h[:, k:, k:].sum(0)
            eq.g_shared += grad[:, k:].sum(0)

    def _add_frame_priors(self, eq: NormalEquations, p: dict[str, torch.Tensor], blocks: list[str],
                          cols: list[int]) -> None:
        """Gauss-Newton terms of the per-frame priors (track/priors.py) on the active columns."""
        c = self.config
        diag_h = torch.zeros(self.n, self.n_cols, dtype=torch.float64)
        grad = torch.zeros_like(diag_h)

        def gaussian(name: str, sigma: float, sub=slice(None)):
            if name in blocks and math.isfinite(sigma):
                cols_ = torch.arange(self.n_cols)[FRAME_COLUMNS[name]][sub]
                diag_h[:, cols_] += 1 / sigma**2
                grad[:, cols_] += p[name][:, sub].double() / sigma**2

        gaussian("expr", c.expr_sigma)
        gaussian("jaw", c.jaw_side_sigma, slice(1, 3))
        gaussian("eyes", c.eyes_sigma)
        if "jaw" in blocks:
            low, high = c.jaw_open_range
            opening = p["jaw"][:, 0].double()
            outside = (opening < low) | (opening > high)
            col = FRAME_COLUMNS["jaw"].start
            diag_h[:, col] += outside / JAW_WALL_SIGMA**2
            grad[:, col] += (torch.clamp(opening - high, min=0) - torch.clamp(low - opening, min=0)) / JAW_WALL_SIGMA**2
        sel = torch.tensor(cols, dtype=torch.long)
        eq.a += torch.diag_embed(diag_h[:, sel])
        eq.g_frame += grad[:, sel]
        if "eyes" in blocks and math.isfinite(c.eyes_vergence_sigma):
            # ½ |(left − right)/σ|²: Hessian [[I, −I], [−I, I]] / σ² on the six eye columns.
            w = 1 / c.eyes_vergence_sigma**2
            eye_cols = [cols.index(i) for i in range(self.n_cols)[FRAME_COLUMNS["eyes"]]]
            left, right = eye_cols[:3], eye_cols[3:]
            diff = (p["eyes"][:, :3] - p["eyes"][:, 3:]).double() * w
            for i in range(3):
                eq.a[:, left[i], left[i]] += w
                eq.a[:, right[i], right[i]] += w
                eq.a[:, left[i], right[i]] -= w
                eq.a[:, right[i], left[i]] -= w
            eq.g_frame[:, left] += diff
            eq.g_frame[:, right] -= diff

    def _add_smoothness(self, eq: NormalEquations, p: dict[str, torch.Tensor], blocks: list[str],
                        cols: list[int]) -> None:
        """Temporal smoothness ½ Σ_t |Δx_t|² / (σ² gap_t): couples frame t to t+1."""
        if self.n < 2:
            return
        for name in SMOOTHED:
            sigma = self.smooth_sigma[name]
            if name not in blocks or not math.isfinite(sigma):
                continue
            idx = torch.tensor([cols.index(i) for i in range(self.n_cols)[FRAME_COLUMNS[FRAME_BLOCKS[name]]]])
            w = (1 / (sigma**2 * self.gaps.double()))[:, None]                     # [N-1, 1]
            d = (p[name][1:] - p[name][:-1]).double() * w                          # [N-1, K_block]
            eq.a[:-1, idx, idx] += w
            eq.a[1:, idx, idx] += w
            eq.upper[:, idx] -= w
            eq.g_frame[:-1, idx] -= d
            eq.g_frame[1:, idx] += d

    def _add_shared_priors(self, eq: NormalEquations, p: dict[str, torch.Tensor], n_s: int,
                           use_focal: bool) -> None:
        """Shape and focal priors; each weighs as much as one frame's terms (F = N · the mean)."""
        c = self.config
        if n_s and math.isfinite(c.shape_sigma):
            eq.c[:n_s, :n_s] += torch.eye(n_s, dtype=torch.float64) * self.n / c.shape_sigma**2
            eq.g_shared[:n_s] += p["shape"].double() * self.n / c.shape_sigma**2
        if use_focal and math.isfinite(c.focal_sigma):
            # ½ ((log f − log f₀)/σ)² with log f = log size − log κ: d/dκ = −(log f − log f₀)/(σ² κ).
            kappa = float(p["inv_focal"])
            eq.c[-1, -1] += self.n / (c.focal_sigma * kappa) ** 2
            off = math.log(self.size / kappa) - self.log_focal_prior
            eq.g_shared[-1] -= off * self.n / (c.focal_sigma**2 * kappa)

    def apply(self, p: dict[str, torch.Tensor], blocks: list[str], d_frame: torch.Tensor,
               d_shared: torch.Tensor) -> dict[str, torch.Tensor]:
        """Parameters p + step (per-frame [N, K] and shared [G] parts, in normal_equations' order)."""
        q = dict(p)
        cols = self._columns(blocks)
        full = torch.zeros(self.n, self.n_cols, dtype=torch.float64)
        full[:, cols] = d_frame
        for name, key in FRAME_BLOCKS.items():
            if name in blocks:
                q[name] = p[name] + full[:, FRAME_COLUMNS[key]].float()
        n_s = self.lm.n_shape if "shape" in blocks else 0
        if n_s:
            q["shape"] = p["shape"] + d_shared[:n_s].float()
        if "inv_focal" in blocks:
            q["inv_focal"] = p["inv_focal"] + d_shared[-1].float()
        return q
