"""Keras 2 HDF5 weight files read with h5py, and the layout conversions into torch modules.

Two layouts share one structure: ``model.save()`` files keep the weights under ``model_weights``
(and the architecture as JSON in the ``model_config`` attribute); ``model.save_weights()`` files
keep them at the root. Either way the weights group lists its layers in its ``layer_names``
attribute, and each layer group lists its arrays in ``weight_names`` (e.g. ``conv2d_1/kernel:0``).

Keras stores channels-last tensors; torch wants channels-first:

- Conv2D kernel ``[kh, kw, in, out]`` -> ``[out, in, kh, kw]``
- DepthwiseConv kernel ``[kh, kw, in, mult]`` -> ``[in * mult, 1, kh, kw]`` (grouped conv, groups=in)
- Dense kernel ``[in, out]`` -> ``[out, in]``
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...errors import EmotagError


@dataclass(frozen=True)
class KerasLayer:
    """One layer's arrays, keyed by short name (``kernel``, ``bias``, ``gamma``, ``moving_mean`` ...)."""

    name: str
    weights: dict[str, np.ndarray]


@dataclass(frozen=True)
class KerasWeights:
    """The layers that carry weights, in file order, and the model config (None without one)."""

    layers: list[KerasLayer]
    config: dict | None

    def by_name(self) -> dict[str, KerasLayer]:
        return {layer.name: layer for layer in self.layers}

    def layer_configs(self) -> dict[str, dict]:
        """Each layer's ``config`` dict from the model config, by layer name ({} without one)."""
        if self.config is None:
            return {}
        return {layer["config"]["name"]: layer["config"] for layer in self.config["config"]["layers"]}


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_keras_h5(path: Path) -> KerasWeights:
    """Read a Keras 2 ``.h5`` / ``.hdf5`` file (whole model or weights only).

    Raises EmotagError when the file is missing, not HDF5, or not in the Keras 2 layout.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            group = f.get("model_weights", f)
            if "layer_names" not in group.attrs:
                raise EmotagError(f"{path}: not a Keras 2 HDF5 weights file (no 'layer_names' attribute)")
            layers = []
            for layer_name in map(_text, group.attrs["layer_names"]):
                layer_group = group[layer_name]
                names = [_text(n) for n in layer_group.attrs.get("weight_names", [])]
                if not names:
                    continue  # activations, pooling, dropout ... carry no weights
                weights = {n.split("/")[-1].split(":")[0]: np.asarray(layer_group[n]) for n in names}
                layers.append(KerasLayer(layer_name, weights))
            raw_config = f.attrs.get("model_config")
            config = json.loads(_text(raw_config)) if raw_config is not None else None
    except EmotagError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise EmotagError(f"{path}: cannot read Keras HDF5 weights ({exc})") from exc
    if not layers:
        raise EmotagError(f"{path}: the Keras HDF5 file holds no weights")
    return KerasWeights(layers, config)


def _assign(param: torch.Tensor, value: np.ndarray, what: str) -> None:
    if tuple(param.shape) != value.shape:
        raise EmotagError(f"{what}: expected shape {tuple(param.shape)}, the file has {value.shape}")
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def load_conv2d(conv: nn.Conv2d, layer: KerasLayer) -> None:
    """Keras Conv2D (``kernel`` HWIO, optional ``bias``) into ``conv``."""
    _assign(conv.weight, layer.weights["kernel"].transpose(3, 2, 0, 1), layer.name)
    if conv.bias is not None:
        _assign(conv.bias, layer.weights["bias"], layer.name)


def load_separable(depthwise: nn.Conv2d, pointwise: nn.Conv2d, layer: KerasLayer) -> None:
    """Keras SeparableConv2D (``depthwise_kernel``, ``pointwise_kernel``, no bias) into two convs."""
    dk = layer.weights["depthwise_kernel"]
    kh, kw, cin, mult = dk.shape
    _assign(depthwise.weight, dk.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw), layer.name)
    _assign(pointwise.weight, layer.weights["pointwise_kernel"].transpose(3, 2, 0, 1), layer.name)


def load_batchnorm(bn: nn.BatchNorm2d, layer: KerasLayer, config: dict | None = None) -> None:
    """Keras BatchNormalization (gamma, beta, moving mean / variance; epsilon from its config)."""
    w = layer.weights
    _assign(bn.weight, w["gamma"], layer.name)
    _assign(bn.bias, w["beta"], layer.name)
    _assign(bn.running_mean, w["moving_mean"], layer.name)
    _assign(bn.running_var, w["moving_variance"], layer.name)
    if config is not None:
        bn.eps = float(config["epsilon"])


def load_dense(linear: nn.Linear, layer: KerasLayer) -> None:
    """Keras Dense (``kernel`` [in, out], ``bias``) into ``linear``."""
    _assign(linear.weight, layer.weights["kernel"].T, layer.name)
    _assign(linear.bias, layer.weights["bias"], layer.name)
