"""DeepFace's facial-expression CNN (serengil/deepface, ``Emotion`` model) in torch.

Architecture (Keras Sequential, all convs 'valid' with bias and ReLU):
input ``[B, 1, 48, 48]`` grayscale in [0, 1];
conv 5x5 (64) -> 44, maxpool 5x5/2 -> 20;
conv 3x3 (64) -> 18, conv 3x3 (64) -> 16, avgpool 3x3/2 -> 7;
conv 3x3 (128) -> 5, conv 3x3 (128) -> 3, avgpool 3x3/2 -> 1;
flatten (128) - dense 1024 - ReLU - dropout - dense 1024 - ReLU - dropout - dense 7 (softmax).

The weights file (``facial_expression_model_weights.h5``) is a ``save_weights`` file: no model
config, and Keras loads it by order, pairing the file's weighted layers with the model's.
We do the same, so the layer names in the file do not matter; the shapes must match.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import EmotagError
from .keras_h5 import load_conv2d, load_dense, read_keras_h5

INPUT_SIZE = 48


class DeepFaceEmotionCNN(nn.Module):
    """``[B, 1, 48, 48]`` in [0, 1] -> ``[B, 7]`` logits (angry ... neutral)."""

    def __init__(self, n_classes: int = 7):
        super().__init__()
        self.convs = nn.ModuleList([
            nn.Conv2d(1, 64, 5), nn.Conv2d(64, 64, 3), nn.Conv2d(64, 64, 3),
            nn.Conv2d(64, 128, 3), nn.Conv2d(128, 128, 3),
        ])
        self.fc1 = nn.Linear(128, 1024)
        self.fc2 = nn.Linear(1024, 1024)
        self.fc3 = nn.Linear(1024, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.convs
        x = F.max_pool2d(F.relu(c[0](x)), 5, 2)
        x = F.avg_pool2d(F.relu(c[2](F.relu(c[1](x)))), 3, 2)
        x = F.avg_pool2d(F.relu(c[4](F.relu(c[3](x)))), 3, 2)
        x = x.permute(0, 2, 3, 1).flatten(1)  # Keras flattens channels-last
        x = F.relu(self.fc1(x))  # dropout is the identity at inference
        x = F.relu(self.fc2(x))
        return self.fc3(x)

    def keras_order(self) -> list[nn.Module]:
        """The weighted layers in the order Keras saved them."""
        return [*self.convs, self.fc1, self.fc2, self.fc3]


def load_deepface_cnn(path: Path) -> DeepFaceEmotionCNN:
    """Build the network and fill it from DeepFace's weights file (eval mode)."""
    keras = read_keras_h5(path)
    model = DeepFaceEmotionCNN()
    targets = model.keras_order()
    if len(keras.layers) != len(targets):
        raise EmotagError(
            f"{path}: expected {len(targets)} weighted layers (5 conv + 3 dense), "
            f"the file has {len(keras.layers)}"
        )
    try:
        for module, layer in zip(targets, keras.layers):
            if isinstance(module, nn.Conv2d):
                load_conv2d(module, layer)
            else:
                load_dense(module, layer)
    except KeyError as exc:
        raise EmotagError(f"{path}: missing weight array {exc}") from exc
    return model.eval()
