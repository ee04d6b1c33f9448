"""The SyncNet v2 network (joonson/syncnet_python's layer table and state-dict names) and the safe
loading of ``syncnet_v2.model``."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from ...errors import EmotagError

EMBEDDING = 1024


def _conv_bn(conv: nn.Module, bn: nn.Module) -> list[nn.Module]:
    return [conv, bn, nn.ReLU(inplace=True)]


def _head() -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, EMBEDDING))


class SyncNet(nn.Module):
    """SyncNet v2 in inference mode. ``audio``: ``[B, 1, 13, 20]`` MFCC -> ``[B, 1024]``;
    ``lips``: ``[B, 3, 5, 224, 224]`` BGR 0..255 -> ``[B, 1024]``.

    The Sequential indices (convolutions at 0, 4, 8, 11, 14, 18, their BatchNorms one after)
    follow the published state dict, so ``syncnet_v2.model`` loads as is.
    """

    def __init__(self) -> None:
        super().__init__()
        c2, b2, c3, b3 = nn.Conv2d, nn.BatchNorm2d, nn.Conv3d, nn.BatchNorm3d
        self.netcnnaud = nn.Sequential(
            *_conv_bn(c2(1, 64, 3, padding=1), b2(64)), nn.MaxPool2d(1, 1),
            *_conv_bn(c2(64, 192, 3, padding=1), b2(192)), nn.MaxPool2d(3, (1, 2)),
            *_conv_bn(c2(192, 384, 3, padding=1), b2(384)),
            *_conv_bn(c2(384, 256, 3, padding=1), b2(256)),
            *_conv_bn(c2(256, 256, 3, padding=1), b2(256)), nn.MaxPool2d(3, 2),
            *_conv_bn(c2(256, 512, (5, 4)), b2(512)),  # 5 x 4 -> 1 x 1
        )
        self.netfcaud = _head()
        self.netcnnlip = nn.Sequential(
            *_conv_bn(c3(3, 96, (5, 7, 7), (1, 2, 2)), b3(96)), nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_conv_bn(c3(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), b3(256)),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            *_conv_bn(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256)),
            *_conv_bn(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256)),
            *_conv_bn(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256)), nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_conv_bn(c3(256, 512, (1, 6, 6)), b3(512)),  # 1 x 6 x 6 -> 1 x 1 x 1
        )
        self.netfclip = _head()
        self.requires_grad_(False)
        self.eval()

    def audio(self, mfcc: Tensor) -> Tensor:
        return self.netfcaud(self.netcnnaud(mfcc).flatten(1))

    def lips(self, frames: Tensor) -> Tensor:
        return self.netfclip(self.netcnnlip(frames).flatten(1))


# Lines of torch's weights_only refusal that are the same for every file; the rest says why.
_TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation")


def _reason(exc: Exception) -> str:
    lines = [s.strip() for s in str(exc).splitlines() if s.strip() and not s.strip().startswith(_TORCH_BOILERPLATE)]
    return f"{exc.__class__.__name__}: {lines[0][:160] if lines else 'no reason given'}"


def load_syncnet(path: Path) -> SyncNet:
    """The network with the weights of ``path`` (read with ``weights_only=True``: no code runs).

    The file must hold every parameter and BatchNorm statistic of ``SyncNet`` with its shape;
    ``num_batches_tracked`` may be absent (files saved by old PyTorch lack it). Anything else is a
    one-line EmotagError.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - random bytes, a code payload, a zip of another kind: one problem
        raise EmotagError(f"{path} is not a SyncNet v2 state dict: torch.load(weights_only=True) "
                          f"refused it ({_reason(exc)})") from None
    if not isinstance(state, dict):
        raise EmotagError(f"{path} is not a SyncNet v2 state dict: it holds a {type(state).__name__}")
    model = SyncNet()
    want = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing = [k for k in want if not isinstance(state.get(k), Tensor)]
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise EmotagError(f"{path} is not a SyncNet v2 state dict: missing keys {shown} "
                          f"({len(missing)} of {len(want)})")
    for key, ref in want.items():
        if state[key].shape != ref.shape:
            raise EmotagError(f"{path} is not a SyncNet v2 state dict: {key} is {tuple(state[key].shape)}, "
                              f"expected {tuple(ref.shape)}")
    model.load_state_dict({k: state[k].float() for k in want}, strict=False)
    return model
