"""LPIPS (Zhang et al. 2018, version 0.1, AlexNet trunk) without torchvision or the ``lpips`` package.

The metric, as ``lpips.LPIPS(net='alex')(a, b, normalize=True)`` computes it:

1. images in [0, 1] -> [-1, 1], then the scaling layer ``(x - shift) / scale`` per RGB channel;
2. AlexNet's five ReLU outputs (relu1..relu5: 64, 192, 384, 256, 256 channels) of both images;
3. each feature map unit-normalised over channels, ``f / (||f||_2 + 1e-10)``;
4. squared difference, a learned non-negative 1x1 convolution per layer to one channel
   (the "linear heads"), averaged over the spatial positions;
5. the five layer values summed: one distance per image pair, 0 for identical images.

Weights, none bundled with emotag (the metric is reported as unavailable without them):

- the backbone: torchvision's ImageNet AlexNet state dict, ``alexnet-owt-7be5be79.pth``, in
  ``$TORCH_HOME/hub/checkpoints`` (where torchvision caches it); only ``features.*`` is read;
- the linear heads: ``alex.pth`` of the ``lpips`` wheel (``lpips/weights/v0.1/alex.pth``, keys
  ``lin0.model.1.weight`` ... ``lin4.model.1.weight``, each ``[1, C, 1, 1]``), found inside an
  installed ``lpips`` package or at ``$EMOTAG_HOME/lpips/alex.pth``.

Both files are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from ..backends import BackendStatus, cache_dir, package_file
from ..errors import EmotagError, MissingBackendError

BACKBONE_FILE = "alexnet-owt-7be5be79.pth"
HEADS_FILE = "alex.pth"
HEADS_IN_PACKAGE = "weights/v0.1/alex.pth"
CHANNELS = (64, 192, 384, 256, 256)
# The scaling layer of LPIPS v0.1: ImageNet statistics expressed for inputs in [-1, 1].
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10


def backbone_path() -> Path:
    """``$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth`` (torch.hub's cache folder)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONE_FILE


def heads_path() -> Path | None:
    """The linear heads: inside an installed ``lpips`` package, else ``$EMOTAG_HOME/lpips/alex.pth``."""
    found = package_file("lpips", HEADS_IN_PACKAGE)
    if found is not None:
        return found
    local = cache_dir() / "lpips" / HEADS_FILE
    return local if local.is_file() else None


def _missing() -> list[str]:
    missing = []
    if not backbone_path().is_file():
        missing.append(f"the AlexNet backbone {backbone_path()} (torchvision's ImageNet AlexNet weights)")
    if heads_path() is None:
        missing.append(f"the linear heads {HEADS_FILE} (`pip install lpips`, or copy lpips/{HEADS_IN_PACKAGE} "
                       f"to {cache_dir() / 'lpips' / HEADS_FILE})")
    return missing


def status() -> BackendStatus:
    missing = _missing()
    where = f"{backbone_path()}; {heads_path() or cache_dir() / 'lpips' / HEADS_FILE}"
    return BackendStatus("eval/lpips", not missing, where, "; ".join(missing))


class AlexFeatures(nn.Module):
    """The convolutional part of torchvision's AlexNet, returning relu1..relu5.

    Input ``[B, 3, H, W]`` (already scaled); outputs ``[B, C_k, H_k, W_k]`` for C = 64, 192, 384,
    256, 256. Parameter names follow torchvision's ``features`` Sequential (``0``, ``3``, ``6``,
    ``8``, ``10`` are the convolutions), so its state dict loads as is.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
        )
        self._taps = (1, 4, 7, 9, 11)  # indices of the ReLUs whose outputs LPIPS compares

    def forward(self, x: Tensor) -> list[Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self._taps:
                out.append(x)
        return out


class LPIPS(nn.Module):
    """LPIPS v0.1 (AlexNet). ``forward(a, b)``: ``[B, 3, H, W]`` in [0, 1] -> distances ``[B]``."""

    def __init__(self) -> None:
        super().__init__()
        self.net = AlexFeatures()
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in CHANNELS)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        fa = self.net(((2 * a - 1) - self.shift) / self.scale)
        fb = self.net(((2 * b - 1) - self.shift) / self.scale)
        total = torch.zeros(a.shape[0], dtype=a.dtype, device=a.device)
        for head, x, y in zip(self.heads, fa, fb):
            x = x / (x.norm(dim=1, keepdim=True) + EPS)
            y = y / (y.norm(dim=1, keepdim=True) + EPS)
            total = total + head((x - y) ** 2).mean(dim=(1, 2, 3))
        return total


def _load(path: Path) -> dict[str, Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user problem
        raise EmotagError(f"cannot read {path} as a torch state dict ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(state, dict):
        raise EmotagError(f"{path} is not a state dict")
    return state


def _backbone_state(path: Path) -> dict[str, Tensor]:
    state = _load(path)
    want = AlexFeatures().state_dict()
    out = {}
    for key, ref in want.items():
        if key not in state or tuple(state[key].shape) != tuple(ref.shape):
            got = tuple(state[key].shape) if key in state else "missing"
            raise EmotagError(f"{path} is not torchvision's AlexNet: {key} is {got}, expected {tuple(ref.shape)}")
        out[key] = state[key].float()
    return out


def _heads_state(path: Path) -> dict[str, Tensor]:
    state = _load(path)
    out = {}
    for k, c in enumerate(CHANNELS):
        # lpips wraps each 1x1 conv in Sequential(Dropout, Conv2d); without dropout it is index 0.
        key = next((f"lin{k}.model.{i}.weight" for i in (1, 0) if f"lin{k}.model.{i}.weight" in state), None)
        if key is None or tuple(state[key].shape) != (1, c, 1, 1):
            got = tuple(state[key].shape) if key else "missing"
            raise EmotagError(f"{path} is not an LPIPS AlexNet head file: lin{k} is {got}, expected (1, {c}, 1, 1)")
        out[f"{k}.weight"] = state[key].float()
    return out


def load_lpips() -> LPIPS:
    """The metric with its weights, or MissingBackendError naming each missing file and where it goes."""
    missing = _missing()
    if missing:
        raise MissingBackendError("LPIPS needs " + " and ".join(missing))
    model = LPIPS()
    model.net.load_state_dict(_backbone_state(backbone_path()))
    model.heads.load_state_dict(_heads_state(heads_path()))
    return model
