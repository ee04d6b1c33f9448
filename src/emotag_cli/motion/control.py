"""Emotion control at inference, and the teacher forcing in training that makes it meaningful.

The paper infers both the emotion latent z_e and the gate g from audio; nothing lets a user ask
for an emotion. We add two optional inputs to the network (``GRMN.forward(..., emotion,
intensity)``):

- ``emotion`` — a 7-class distribution π fed to the residual decoder in place of softmax(z_e)
  ("paper" residual variant only: its decoder reads [r ‖ π]);
- ``intensity`` — a value in [0, 1] used in place of the predicted gate g in δ = δ_b + g·δ_r.

Either left as None (or NaN in a row) means "auto": inferred from the audio, as in the paper.

Why this means something after training: the decoder only learns to obey π and the blend only
learns what g = i means if it sees such inputs. So during training, independently per sample and
with probability ``p_teacher`` each, π is the emotion teacher's distribution p_emo of the ground-
truth frame instead of softmax(z_e), and g is the teacher's score e = 1 − p_emo(neutral) instead of
the predicted gate (``teacher_forcing``). The teacher sees the face, so on those steps π and e
carry the real expression of the target frame — more than audio can — and the render and FLAME
losses push the decoder to read its emotion from π and the blend to scale with g. The predicted
z_e and g are still trained towards the teacher by the SEG losses on every step, so "auto" stays
what the paper describes. Drawing the two substitutions independently covers all four inference
modes (both given, either one, neither).

A request (emotion k, intensity i) becomes π = i·onehot(k) + (1 − i)·onehot(neutral) and g = i:
exactly the relation g = 1 − π(neutral) every teacher-forced training pair satisfies, so it lies
on the training distribution; i = 0 gives the base motion alone, i = 1 the full residual of k.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..contract import EMOTIONS, NEUTRAL
from ..errors import EmotagError

# The class order of the emotion teacher (emotag_cli.preprocess.emotion.EMOTIONS; a test checks
# they agree). Kept here so that the motion package does not import the preprocessing stack.


def emotion_score(p_emo: Tensor) -> Tensor:
    """e = 1 − p(neutral): [..., 7] → [..., 1], the teacher's intensity (docs/reference/motion-network.md)."""
    return 1.0 - p_emo[..., NEUTRAL:NEUTRAL + 1]


def substitute(given: Tensor | None, inferred: Tensor) -> Tensor:
    """``inferred`` where ``given`` is None or NaN, else ``given`` (broadcast to inferred's shape)."""
    if given is None:
        return inferred
    given = given.to(inferred)
    return torch.where(torch.isnan(given), inferred, given).expand_as(inferred)


def teacher_forcing(p_emo: Tensor, p_teacher: float, generator: torch.Generator | None = None
                    ) -> tuple[Tensor, Tensor]:
    """Per-sample teacher inputs for training: (emotion [B, 7], intensity [B, 1]).

    Row b of ``emotion`` is p_emo[b] with probability p_teacher, else NaN (auto); ``intensity`` is
    e[b] = 1 − p_emo[b, neutral] with probability p_teacher, drawn independently, else NaN.
    """
    b = p_emo.shape[0]
    device = p_emo.device if generator is None else generator.device
    draws = torch.rand(2, b, 1, generator=generator, device=device).to(p_emo.device)
    nan = torch.full((), float("nan"), dtype=p_emo.dtype, device=p_emo.device)
    emotion = torch.where(draws[0] < p_teacher, p_emo, nan)
    intensity = torch.where(draws[1] < p_teacher, emotion_score(p_emo), nan)
    return emotion, intensity


def emotion_request(emotion: str | Mapping[str, float] | Sequence[float] | Tensor | None,
                    intensity: float | None = None) -> tuple[Tensor | None, Tensor | None]:
    """A user's request → (π [7] or None, g [1] or None) for ``GRMN.forward``.

    emotion: a class name ("happy"), a mapping of names to weights ({"happy": 0.7, "surprise": 0.3}),
        7 weights in ``EMOTIONS`` order, or None / "auto" (inferred from audio). Weights are
        normalised to sum to 1.
    intensity: in [0, 1], or None (the gate inferred from audio). With an intensity, the
        non-neutral part of the weights is scaled to it and the rest goes to neutral (see the
        module docstring); without one, π is the normalised weights as given.
    """
    if intensity is not None and not 0.0 <= float(intensity) <= 1.0:
        raise EmotagError(f"--intensity must be between 0 and 1, got {intensity}")
    gate = None if intensity is None else torch.tensor([float(intensity)])
    if emotion is None or (isinstance(emotion, str) and emotion == "auto"):
        return None, gate
    weights = _weights(emotion)
    return (weights if intensity is None else with_intensity(weights, float(intensity))), gate


def with_intensity(weights: Tensor, intensity: float) -> Tensor:
    """The intensity rule: distributions [..., 7] with their non-neutral part scaled to sum to
    ``intensity`` and the rest on neutral (a row without any emotion becomes all neutral)."""
    emotional = weights.clone()
    emotional[..., NEUTRAL] = 0.0
    total = emotional.sum(-1, keepdim=True)
    scaled = torch.where(total > 0, intensity * emotional / total.clamp_min(1e-12), torch.zeros_like(emotional))
    scaled[..., NEUTRAL] = 1.0 - scaled.sum(-1)
    return scaled


def _weights(emotion: str | Mapping[str, float] | Sequence[float] | Tensor) -> Tensor:
    if isinstance(emotion, str):
        emotion = {emotion: 1.0}
    if isinstance(emotion, Mapping):
        unknown = [k for k in emotion if k not in EMOTIONS]
        if unknown:
            raise EmotagError(f"unknown emotion {', '.join(map(repr, unknown))}; "
                              f"choose from {', '.join(EMOTIONS)} (or auto)")
        weights = torch.zeros(len(EMOTIONS))
        for name, w in emotion.items():
            weights[EMOTIONS.index(name)] = float(w)
    else:
        weights = torch.as_tensor(emotion, dtype=torch.float32).flatten()
        if weights.numel() != len(EMOTIONS):
            raise EmotagError(f"an emotion distribution needs {len(EMOTIONS)} weights "
                              f"({', '.join(EMOTIONS)}), got {weights.numel()}")
    if (weights < 0).any() or not torch.isfinite(weights).all() or weights.sum() <= 0:
        raise EmotagError("emotion weights must be finite, non-negative and not all zero")
    return weights / weights.sum()
